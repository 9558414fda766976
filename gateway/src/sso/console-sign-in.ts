// Console sign-in through the organization's IdP (issue 20): authorization code + PKCE returning to the
// console's own callback. Its pending sign-ins are kept apart from the agents' (the purpose is which map
// holds the state), so an agent or device sign-in can never end in a console session and a console
// sign-in can never approve a device; each is bound to the browser that started it (a nonce cookie);
// whether the person is an administrator is decided from the validated ID token alone.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock, Logger } from '../../../lib/index.ts';
import { SSO_TIMING } from '../../../protocol/index.ts';
import type { SsoUserRecord } from '../store/index.ts';
import { IdpResponseError, IdpUnavailableError, type Federation, type IdpIdentity, type SignInChecks } from './federation.ts';
import { ExpiringMap } from './pending.ts';
import { consoleAdminProblem } from './people.ts';

/** An administrator the IdP vouched for, as the console's session records them. */
export interface ConsoleSsoAdmin {
  userId: string;
  email: string;
  issuer: string;
  subject: string;
}

export interface ConsoleSsoRefusal {
  ok: false;
  status: number;
  title: string;
  message: string;
  /** Who the IdP said it was, when it got that far (for the audit event). */
  person?: { email: string; issuer: string };
}

export type ConsoleSsoStart = { ok: true; redirect: string; browserNonce: string } | ConsoleSsoRefusal;
export type ConsoleSsoFinish = { ok: true; admin: ConsoleSsoAdmin } | ConsoleSsoRefusal;

interface PendingConsoleSignIn {
  providerId: string;
  checks: SignInChecks;
  callbackUrl: string;
  /** SHA-256 of the nonce the starting browser holds in its cookie. */
  browserNonceHash: Buffer;
}

export interface ConsoleSignInDeps {
  federation: Federation;
  clock: Clock;
  logger: Logger;
  /** The gateway's public URL of a path (the callback the IdP is told). */
  url: (path: string) => string;
  /** Creates or updates the person's gateway user (as an agent sign-in does); its disabled mark counts. */
  recordUser: (identity: IdpIdentity) => Promise<SsoUserRecord>;
}

const MAX_PENDING = 1_000;
const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export class ConsoleSignIns {
  readonly #deps: ConsoleSignInDeps;
  readonly #pending: ExpiringMap<PendingConsoleSignIn>;

  constructor(deps: ConsoleSignInDeps) {
    this.#deps = deps;
    this.#pending = new ExpiringMap(deps.clock, MAX_PENDING);
  }

  /** The IdPs some of whose people are console administrators (the sign-in page offers these). */
  providers(): { id: string; name: string }[] {
    return this.#deps.federation.providers.filter((p) => p.adminGroups.length > 0 || p.adminEmails.length > 0).map((p) => ({ id: p.id, name: p.displayName }));
  }

  /** Starts a console sign-in at `providerId` (the only offered one when undefined), returning to `callbackPath`. */
  async begin(providerId: string | undefined, callbackPath: string): Promise<ConsoleSsoStart> {
    const offered = this.providers();
    const chosen = providerId ?? (offered.length === 1 ? offered[0]!.id : undefined);
    if (chosen === undefined || !offered.some((p) => p.id === chosen)) {
      return { ok: false, status: 400, title: 'Sign-in refused', message: `no identity provider "${(providerId ?? '').slice(0, 40)}" signs in console administrators here; choose one on the sign-in page` };
    }
    const callbackUrl = this.#deps.url(callbackPath);
    try {
      const { url, checks } = await this.#deps.federation.begin(chosen, callbackUrl);
      const browserNonce = randomBytes(32).toString('base64url');
      this.#pending.set(checks.state, { providerId: chosen, checks, callbackUrl, browserNonceHash: sha256(browserNonce) }, SSO_TIMING.signInTtlS * 1000);
      return { ok: true, redirect: url.toString(), browserNonce };
    } catch (err) {
      return this.#failure(err);
    }
  }

  /** The IdP sent the browser back: the administrator, or why not (no session is started then). */
  async finish(query: URLSearchParams, browserNonce: string | undefined): Promise<ConsoleSsoFinish> {
    const state = query.get('state');
    // Only console sign-ins are in this map: an agent's or a device's state is unknown here.
    const pending = state === null ? undefined : this.#pending.take(state);
    if (pending === undefined || pending === 'expired') {
      this.#deps.logger.warn({ known: pending === 'expired' ? 'expired' : 'no' }, 'console sign-in refused: unknown, used or expired state');
      return {
        ok: false,
        status: 400,
        title: 'Sign-in expired',
        message: 'this console sign-in is unknown, already used or older than 10 minutes (a sign-in started for an agent or a device cannot open the console). Start again from the console’s sign-in page.',
      };
    }
    const sent = browserNonce === undefined ? undefined : sha256(browserNonce);
    if (sent === undefined || !timingSafeEqual(sent, pending.browserNonceHash)) {
      this.#deps.logger.warn({ idp: pending.providerId }, 'console sign-in refused: finished in another browser than the one that started it');
      return { ok: false, status: 400, title: 'Sign-in refused', message: 'this sign-in was started in another browser (or its cookie was lost). Start again from the console’s sign-in page, in this browser.' };
    }
    const currentUrl = new URL(pending.callbackUrl);
    currentUrl.search = query.toString();
    let identity: IdpIdentity;
    try {
      identity = await this.#deps.federation.complete(pending.providerId, currentUrl, pending.checks);
    } catch (err) {
      return this.#failure(err);
    }
    const person = { email: identity.email, issuer: identity.issuer };
    const provider = this.#deps.federation.provider(pending.providerId)!;
    const problem = consoleAdminProblem(provider, identity);
    if (problem) {
      this.#deps.logger.warn({ email: identity.email, issuer: identity.issuer, groups: identity.groups.length }, 'console sign-in refused: not a console administrator');
      return { ok: false, status: 403, title: 'Not a console administrator', message: problem, person };
    }
    const user = await this.#deps.recordUser(identity);
    if (user.disabledAt) {
      this.#deps.logger.warn({ user_id: user.id, email: user.email }, 'console sign-in refused: user disabled');
      return { ok: false, status: 403, title: 'Access disabled', message: `the Heimdall access of ${user.email} was disabled by an administrator; contact IT`, person };
    }
    return { ok: true, admin: { userId: user.id, email: user.email, issuer: identity.issuer, subject: identity.subject } };
  }

  #failure(err: unknown): ConsoleSsoRefusal {
    if (err instanceof IdpUnavailableError) {
      this.#deps.logger.warn({ reason: err.message }, 'identity provider unavailable during console sign-in');
      return { ok: false, status: 503, title: 'Your sign-in service is not answering', message: `${err.message}. Try again in a minute, or sign in with the admin token.` };
    }
    if (err instanceof IdpResponseError) {
      this.#deps.logger.warn({ reason: err.message }, 'identity provider answer refused (console sign-in)');
      return { ok: false, status: 400, title: 'Sign-in failed', message: `${err.message}. Start the sign-in again.` };
    }
    throw err;
  }
}
