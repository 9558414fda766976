// The sentence a person reads when an app is blocked. The forward room wraps it in each provider's
// error shape; the intercept room shows it on the browser block page.
import type { PolicyDecision } from './schema.ts';

export type BlockReason = 'denied' | 'pending' | 'no_policy' | 'unverified';

export interface BlockMessageInput {
  appName: string;
  /** The app's id, for the `heimdall request-access` command the sentence offers (left out when unknown). */
  appId?: string | undefined;
  organization?: string | undefined;
  supportUrl?: string | undefined;
  reason: BlockReason;
}

// What happened, then what to do. A denied app names where to ask; a pending one says IT has been
// asked and that approval needs nothing more from the person; both offer the request-access command,
// which reaches the organization's approval queue with the person's reason.
const REASONS: Record<BlockReason, (app: string, org: string, ask: Ask) => string> = {
  denied: (app, org, ask) => `${app} is blocked at ${org}: an administrator denied it. If you need it for your work, ${ask.denied}`,
  pending: (app, org, ask) =>
    `${app} is waiting for approval at ${org}: your IT team has been asked to review it, and once they approve it, it will work with no action from you. ${ask.pending}`,
  no_policy: (app, org, ask) => `${app} cannot be used at ${org} right now: the AI usage policy could not be loaded. ${ask.help}`,
  unverified: (app, org, ask) =>
    `${app} is allowed at ${org} only when its identity can be verified, and this copy could not be verified (install it where only an administrator can change it, or use the vendor's signed build). ${ask.help}`,
};

interface Ask {
  denied: string;
  pending: string;
  help: string;
}

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

/** The command a person runs to ask for an app, reason included (app ids carry no shell metacharacters). */
export function requestAccessCommand(appId: string): string {
  return `heimdall request-access ${appId} --reason "why you need it"`;
}

/**
 * "Claude Code is blocked at Acme: an administrator denied it. If you need it for your work, ask for
 * access with `heimdall request-access claude-code --reason "why you need it"` or at https://help.acme.example."
 */
export function blockMessage(input: BlockMessageInput): string {
  const app = clean(input.appName, 128) || 'This app';
  const org = clean(input.organization ?? '', 128) || 'your organization';
  const link = supportLink(input.supportUrl);
  const command = input.appId && /^[A-Za-z0-9._:@+-]{1,64}$/.test(input.appId) ? `\`${requestAccessCommand(input.appId)}\`` : undefined;
  const where = link ? `at ${link}` : 'from your IT team';
  const ask: Ask = {
    denied: command ? `ask for access with ${command} or ${where}.` : `ask for access ${where}.`,
    pending: command ? `To tell them why you need it, run ${command}.${link ? ` Help: ${link}` : ''}` : link ? `Help: ${link}` : '',
    help: link ? `Help: ${link}` : 'Contact your IT team.',
  };
  return REASONS[input.reason](app, org, ask).trim();
}

/** The block reason behind a blocking decision. */
export function blockReasonOf(decision: PolicyDecision): BlockReason {
  return decision.status === 'denied' || decision.status === 'no_policy' || decision.status === 'unverified' ? decision.status : 'pending';
}
