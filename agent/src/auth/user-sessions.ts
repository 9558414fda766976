// Keeps each OS user's access token fresh: a timer per user refreshes it ahead of its end, one
// refresh at a time per user (single flight), and a request in flight is never held up by one: it
// goes with the token that is still valid. A refresh the gateway refuses (family revoked, user
// disabled) ends the sign-in's use and says so in `status` with the command that fixes it; one
// that cannot reach the gateway is retried with backoff while the access token lasts.
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { LoginError } from './errors.ts';
import type { TokenSet, UserTokens } from './user-tokens.ts';

/** Refresh this long before the access token ends (a 10-minute token: at 8 minutes). */
export const REFRESH_AHEAD_MS = 120_000;
const RETRY_FIRST_MS = 5_000;
const RETRY_MAX_MS = 60_000;

export const FIX_SIGN_IN = 'heimdall login';

export interface UserSessionsOptions {
  tokens: UserTokens;
  /** Exchanges a refresh token at the gateway (the device token goes with it). */
  refresh: (refreshToken: string) => Promise<TokenSet>;
  logger: Logger;
  clock?: Clock;
  refreshAheadMs?: number;
}

interface UserTimer {
  timer: ClockTimer;
  retryMs: number;
}

export class UserSessions {
  readonly #o: UserSessionsOptions;
  readonly #clock: Clock;
  readonly #ahead: number;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #timers = new Map<string, UserTimer>();
  /** Users whose refresh the gateway refused: nothing is tried again until they sign in anew. */
  readonly #refused = new Set<string>();
  #stopped = false;

  constructor(options: UserSessionsOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#ahead = options.refreshAheadMs ?? REFRESH_AHEAD_MS;
  }

  /** Schedules the refresh of every stored sign-in (daemon start). */
  start(): void {
    this.#stopped = false;
    for (const s of this.#o.tokens.list()) this.schedule(s.osUser);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) this.#clock.clearTimeout(t.timer);
    this.#timers.clear();
  }

  /**
   * The access token for `osUser`'s request while it is valid, else undefined. Never waits: a token
   * near its end starts a refresh in the background and the request goes on with the current one.
   */
  current(osUser: string): string | undefined {
    const access = this.#o.tokens.access(osUser);
    if (!access) return undefined;
    const left = access.expiresAt - this.#clock.now();
    // Normally the timer refreshes first; this covers a timer that has not run yet (a machine back
    // from sleep), and never asks again after the gateway refused.
    if (left < this.#ahead && !this.#inFlight.has(osUser) && !this.#timers.has(osUser) && !this.#refused.has(osUser)) void this.refreshNow(osUser);
    return left > 0 ? access.token : undefined;
  }

  /** Sets `osUser`'s timer to refresh ahead of the stored token's end (after a sign-in or refresh). */
  schedule(osUser: string, retryMs = 0): void {
    this.#cancel(osUser);
    this.#refused.delete(osUser);
    if (this.#stopped) return;
    const access = this.#o.tokens.access(osUser);
    if (!access) return;
    const dueIn = retryMs > 0 ? retryMs : Math.max(0, access.expiresAt - this.#ahead - this.#clock.now());
    const timer = this.#clock.setTimeout(() => {
      this.#timers.delete(osUser);
      void this.#refreshShared(osUser, retryMs);
    }, dueIn);
    timer.unref();
    this.#timers.set(osUser, { timer, retryMs });
  }

  #cancel(osUser: string): void {
    const t = this.#timers.get(osUser);
    if (t) this.#clock.clearTimeout(t.timer);
    this.#timers.delete(osUser);
  }

  /** Forgets `osUser`'s timer (sign-out). */
  forget(osUser: string): void {
    this.#cancel(osUser);
    this.#refused.delete(osUser);
  }

  /** Refreshes `osUser`'s tokens now; callers meanwhile share the one refresh. Never throws. */
  refreshNow(osUser: string): Promise<void> {
    return this.#refreshShared(osUser, 0);
  }

  #refreshShared(osUser: string, previousRetryMs: number): Promise<void> {
    let running = this.#inFlight.get(osUser);
    if (!running) {
      running = this.#refresh(osUser, previousRetryMs).finally(() => this.#inFlight.delete(osUser));
      this.#inFlight.set(osUser, running);
    }
    return running;
  }

  async #refresh(osUser: string, previousRetryMs: number): Promise<void> {
    const refreshToken = this.#o.tokens.refreshToken(osUser);
    if (refreshToken === undefined) return;
    try {
      const tokens = await this.#o.refresh(refreshToken);
      if (this.#o.tokens.saveRefreshed(osUser, refreshToken, tokens)) {
        this.#o.logger.debug({ os_user: osUser, expires_at: new Date(tokens.accessExpiresAt).toISOString() }, 'user access token refreshed');
      }
      this.schedule(osUser);
    } catch (err) {
      const refused = err instanceof LoginError && err.code === 'rejected';
      const reason = err instanceof Error ? err.message : String(err);
      const message = refused
        ? `the gateway no longer accepts your sign-in (${reason}): run \`${FIX_SIGN_IN}\``
        : `could not refresh your sign-in (${reason}); retrying. If it persists, run \`${FIX_SIGN_IN}\``;
      this.#o.tokens.recordRefreshError(osUser, message);
      this.#o.logger.warn({ os_user: osUser, refused, code: err instanceof LoginError ? err.code : undefined, status: err instanceof LoginError ? err.status : undefined }, 'user token refresh failed');
      // Refused: nothing will change until the person signs in again. Otherwise back off and retry.
      if (!refused) this.schedule(osUser, Math.min(RETRY_MAX_MS, previousRetryMs > 0 ? previousRetryMs * 2 : RETRY_FIRST_MS));
      else {
        this.#cancel(osUser);
        this.#refused.add(osUser);
      }
    }
  }
}
