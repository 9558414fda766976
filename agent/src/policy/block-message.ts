// The sentence a person reads when an app is blocked. The forward room wraps it in each provider's
// error shape; the intercept room shows it on the browser block page.
import type { PolicyDecision } from './schema.ts';

export type BlockReason = 'denied' | 'pending' | 'no_policy' | 'unverified';

export interface BlockMessageInput {
  appName: string;
  organization?: string | undefined;
  supportUrl?: string | undefined;
  reason: BlockReason;
}

const REASONS: Record<BlockReason, (app: string, org: string) => string> = {
  denied: (app, org) => `${app} is not approved for use at ${org} (denied by your administrator).`,
  pending: (app, org) => `${app} is not approved for use at ${org} (pending review).`,
  no_policy: (app, org) => `${app} cannot be used at ${org} right now (the AI usage policy could not be loaded).`,
  unverified: (app, org) =>
    `${app} is allowed at ${org} only when its identity can be verified, and this copy could not be verified (install it where only an administrator can change it, or use the vendor's signed build).`,
};

function clean(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- control characters never reach a person's screen
  const t = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** Only an http(s) URL is offered as a link; anything else is left out rather than shown. */
function supportLink(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** "Claude Code is not approved for use at Acme (pending review). Contact https://help.acme.example to request access." */
export function blockMessage(input: BlockMessageInput): string {
  const app = clean(input.appName, 128) || 'This app';
  const org = clean(input.organization ?? '', 128) || 'your organization';
  const link = supportLink(input.supportUrl);
  const contact = link ? `Contact ${link} to request access.` : 'Contact your IT team to request access.';
  return `${REASONS[input.reason](app, org)} ${contact}`;
}

/** The block reason behind a blocking decision. */
export function blockReasonOf(decision: PolicyDecision): BlockReason {
  return decision.status === 'denied' || decision.status === 'no_policy' || decision.status === 'unverified' ? decision.status : 'pending';
}
