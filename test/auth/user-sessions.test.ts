// The refresh of each OS user's access token, on a ManualClock over a real SQLite store: ahead of
// expiry, one refresh at a time per user, requests never waiting for one, a refusal shown with its
// fix and not retried, a network failure retried with backoff while the token lasts.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUTH_MIGRATIONS, LoginError, REFRESH_AHEAD_MS, TokenVault, UserSessions, UserTokens, type TokenSet } from '../../agent/src/auth/index.ts';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';

const TTL = 600_000;
let dir: string;
let store: Store;
let clock: ManualClock;
let tokens: UserTokens;

interface Call {
  refreshToken: string;
  resolve: (t: TokenSet) => void;
  reject: (e: Error) => void;
}

/** A refresh function whose answers the test gives by hand, so "in flight" is a state, not a timing. */
function manualRefresh() {
  const calls: Call[] = [];
  let n = 0;
  const refresh = (refreshToken: string) => new Promise<TokenSet>((resolve, reject) => calls.push({ refreshToken, resolve, reject }));
  const next = (): TokenSet => {
    n++;
    return { accessToken: `access-${n}-${'x'.repeat(16)}`, accessExpiresAt: clock.now() + TTL, refreshToken: `hrt_refresh-${n}-${'y'.repeat(16)}` };
  };
  return { calls, refresh, next };
}

const flush = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-sessions-'));
  store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  tokens = new UserTokens(store.db, new TokenVault(Buffer.alloc(32, 3)), () => clock.now());
  tokens.saveSignIn('alice', { id: 'u-alice', email: 'alice@example.com', name: undefined }, { accessToken: 'access-0-aaaaaaaaaaaaaaaa', accessExpiresAt: clock.now() + TTL, refreshToken: 'hrt_refresh-0-aaaaaaaaaaaaaaaa' });
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('UserSessions', () => {
  it('refreshes ahead of expiry, and a request in flight across the refresh keeps the valid token', async () => {
    const r = manualRefresh();
    const sessions = new UserSessions({ tokens, refresh: r.refresh, logger: silentLogger(), clock });
    sessions.start();
    clock.advance(TTL - REFRESH_AHEAD_MS - 1);
    expect(r.calls).toHaveLength(0);
    clock.advance(1);
    expect(r.calls).toHaveLength(1);
    expect(r.calls[0]!.refreshToken).toBe('hrt_refresh-0-aaaaaaaaaaaaaaaa');
    // The refresh has not answered: requests go on at once with the current, still valid token.
    expect(sessions.current('alice')).toBe('access-0-aaaaaaaaaaaaaaaa');
    r.calls[0]!.resolve(r.next());
    await flush();
    expect(sessions.current('alice')).toBe('access-1-xxxxxxxxxxxxxxxx');
    expect(tokens.refreshToken('alice')).toBe('hrt_refresh-1-yyyyyyyyyyyyyyyy');
    // ...and the next one is scheduled from the new expiry.
    clock.advance(TTL - REFRESH_AHEAD_MS);
    expect(r.calls).toHaveLength(2);
    sessions.stop();
  });

  it('runs one refresh per user however many ask at once', async () => {
    const r = manualRefresh();
    const sessions = new UserSessions({ tokens, refresh: r.refresh, logger: silentLogger(), clock });
    const all = [sessions.refreshNow('alice'), sessions.refreshNow('alice'), sessions.refreshNow('alice')];
    expect(r.calls).toHaveLength(1);
    r.calls[0]!.resolve(r.next());
    await Promise.all(all);
    expect(tokens.access('alice')?.token).toBe('access-1-xxxxxxxxxxxxxxxx');
    sessions.stop();
  });

  it('a refresh the gateway refuses shows in the sign-in with `heimdall login`, and is not tried again', async () => {
    const r = manualRefresh();
    const sessions = new UserSessions({ tokens, refresh: r.refresh, logger: silentLogger(), clock });
    sessions.start();
    clock.advance(TTL - REFRESH_AHEAD_MS);
    r.calls[0]!.reject(new LoginError('rejected', 'token refresh refused by https://gw/oauth/token: the refresh token was revoked', { status: 400, gatewayCode: 'invalid_grant' }));
    await flush();
    expect(tokens.signIn('alice')?.refreshError).toBe('the gateway no longer accepts your sign-in (token refresh refused by https://gw/oauth/token: the refresh token was revoked): run `heimdall login`');
    // The token still valid keeps working until its end; then the user is not signed in.
    expect(sessions.current('alice')).toBe('access-0-aaaaaaaaaaaaaaaa');
    clock.advance(REFRESH_AHEAD_MS);
    expect(sessions.current('alice')).toBeUndefined();
    clock.advance(3_600_000);
    sessions.current('alice');
    expect(r.calls).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
    sessions.stop();
  });

  it('a gateway that cannot be reached is retried with backoff; success clears the error', async () => {
    const r = manualRefresh();
    const sessions = new UserSessions({ tokens, refresh: r.refresh, logger: silentLogger(), clock });
    sessions.start();
    clock.advance(TTL - REFRESH_AHEAD_MS);
    r.calls[0]!.reject(new LoginError('unreachable', 'cannot reach the gateway at https://gw/oauth/token: ECONNREFUSED'));
    await flush();
    expect(tokens.signIn('alice')?.refreshError).toMatch(/^could not refresh your sign-in \(cannot reach .*ECONNREFUSED\); retrying\. If it persists, run `heimdall login`$/);
    clock.advance(4_999);
    expect(r.calls).toHaveLength(1);
    clock.advance(1);
    expect(r.calls).toHaveLength(2);
    r.calls[1]!.reject(new LoginError('unreachable', 'down'));
    await flush();
    clock.advance(9_999);
    expect(r.calls).toHaveLength(2);
    clock.advance(1);
    expect(r.calls).toHaveLength(3);
    r.calls[2]!.resolve(r.next());
    await flush();
    expect(tokens.signIn('alice')?.refreshError).toBeUndefined();
    expect(sessions.current('alice')).toBe('access-1-xxxxxxxxxxxxxxxx');
    sessions.stop();
  });

  it('a sign-out during a refresh wins: the refreshed tokens are not stored', async () => {
    const r = manualRefresh();
    const sessions = new UserSessions({ tokens, refresh: r.refresh, logger: silentLogger(), clock });
    const running = sessions.refreshNow('alice');
    tokens.remove('alice');
    sessions.forget('alice');
    r.calls[0]!.resolve(r.next());
    await running;
    expect(tokens.access('alice')).toBeUndefined();
    expect(sessions.current('alice')).toBeUndefined();
  });
});
