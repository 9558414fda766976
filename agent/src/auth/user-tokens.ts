// Each OS user's SSO sign-in: the gateway user, the short-lived access token sent with their
// inference, and the rotating refresh token. Both tokens rest sealed by the TokenVault (the store
// file holds no token in clear); the access token is kept open in memory for the hot path, since
// it is read on every forwarded request.
import type { Database } from '../store/index.ts';
import { VaultError, type TokenVault } from './token-vault.ts';

export interface GatewayUser {
  id: string;
  email: string | undefined;
  name: string | undefined;
}

export interface TokenSet {
  accessToken: string;
  /** Epoch ms when the access token ends. */
  accessExpiresAt: number;
  refreshToken: string;
}

export interface SsoSignIn {
  osUser: string;
  user: GatewayUser;
  accessExpiresAt: number;
  signedInAt: string;
  refreshedAt: string | undefined;
  /** Why the last refresh failed (no secret in it), until one succeeds. */
  refreshError: string | undefined;
  refreshErrorAt: string | undefined;
}

interface Row {
  os_user: string;
  user_id: string;
  email: string | null;
  name: string | null;
  access_token: string;
  access_expires_at: string;
  refresh_token: string;
  signed_in_at: string;
  refreshed_at: string | null;
  refresh_error: string | null;
  refresh_error_at: string | null;
}

const context = (osUser: string, column: 'access_token' | 'refresh_token') => `sso:${osUser}:${column}`;

export class UserTokens {
  readonly #db: Database;
  readonly #vault: TokenVault;
  readonly #now: () => number;
  /** Open access tokens by OS user (undefined: not signed in), filled on first use. */
  readonly #access = new Map<string, { token: string; expiresAt: number } | undefined>();

  constructor(db: Database, vault: TokenVault, now: () => number = Date.now) {
    this.#db = db;
    this.#vault = vault;
    this.#now = now;
  }

  #row(osUser: string): Row | undefined {
    return this.#db.prepare<[string], Row>('SELECT * FROM auth_sso_users WHERE os_user = ?').get(osUser);
  }

  /** Stores a new sign-in for `osUser` (replacing any before it). */
  saveSignIn(osUser: string, user: GatewayUser, tokens: TokenSet): void {
    const now = new Date(this.#now()).toISOString();
    this.#db
      .prepare(
        `INSERT INTO auth_sso_users (os_user, user_id, email, name, access_token, access_expires_at, refresh_token, signed_in_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(os_user) DO UPDATE SET user_id = excluded.user_id, email = excluded.email, name = excluded.name,
           access_token = excluded.access_token, access_expires_at = excluded.access_expires_at, refresh_token = excluded.refresh_token,
           signed_in_at = excluded.signed_in_at, refreshed_at = NULL, refresh_error = NULL, refresh_error_at = NULL`,
      )
      .run(
        osUser,
        user.id,
        user.email ?? null,
        user.name ?? null,
        this.#vault.seal(tokens.accessToken, context(osUser, 'access_token')),
        new Date(tokens.accessExpiresAt).toISOString(),
        this.#vault.seal(tokens.refreshToken, context(osUser, 'refresh_token')),
        now,
      );
    this.#access.set(osUser, { token: tokens.accessToken, expiresAt: tokens.accessExpiresAt });
  }

  /**
   * Stores refreshed tokens, only while the sign-in is the one `refreshToken` came from (a logout
   * or a new sign-in meanwhile wins); false when it was not stored.
   */
  saveRefreshed(osUser: string, previousRefreshToken: string, tokens: TokenSet): boolean {
    if (this.refreshToken(osUser) !== previousRefreshToken) return false;
    this.#db
      .prepare('UPDATE auth_sso_users SET access_token = ?, access_expires_at = ?, refresh_token = ?, refreshed_at = ?, refresh_error = NULL, refresh_error_at = NULL WHERE os_user = ?')
      .run(
        this.#vault.seal(tokens.accessToken, context(osUser, 'access_token')),
        new Date(tokens.accessExpiresAt).toISOString(),
        this.#vault.seal(tokens.refreshToken, context(osUser, 'refresh_token')),
        new Date(this.#now()).toISOString(),
        osUser,
      );
    this.#access.set(osUser, { token: tokens.accessToken, expiresAt: tokens.accessExpiresAt });
    return true;
  }

  /** The access token and its end, or undefined when `osUser` has no SSO sign-in. */
  access(osUser: string): { token: string; expiresAt: number } | undefined {
    if (this.#access.has(osUser)) return this.#access.get(osUser);
    const row = this.#row(osUser);
    let open: { token: string; expiresAt: number } | undefined;
    try {
      open = row ? { token: this.#vault.open(row.access_token, context(osUser, 'access_token')), expiresAt: Date.parse(row.access_expires_at) } : undefined;
    } catch (err) {
      // A store moved from another machine, or a lost vault key: the sign-in is unusable, and says so.
      if (!(err instanceof VaultError)) throw err;
      this.recordRefreshError(osUser, `${err.message}: run \`heimdall login\``);
    }
    this.#access.set(osUser, open);
    return open;
  }

  /** The refresh token, or undefined when there is none or it does not open here (see access()). */
  refreshToken(osUser: string): string | undefined {
    const row = this.#row(osUser);
    try {
      return row ? this.#vault.open(row.refresh_token, context(osUser, 'refresh_token')) : undefined;
    } catch (err) {
      if (!(err instanceof VaultError)) throw err;
      this.recordRefreshError(osUser, `${err.message}: run \`heimdall login\``);
      return undefined;
    }
  }

  recordRefreshError(osUser: string, message: string): void {
    this.#db.prepare('UPDATE auth_sso_users SET refresh_error = ?, refresh_error_at = ? WHERE os_user = ?').run(message, new Date(this.#now()).toISOString(), osUser);
  }

  signIn(osUser: string): SsoSignIn | undefined {
    const row = this.#row(osUser);
    return row ? toSignIn(row) : undefined;
  }

  /** Every SSO sign-in on this device, without secrets. */
  list(): SsoSignIn[] {
    return this.#db.prepare<[], Row>('SELECT * FROM auth_sso_users ORDER BY os_user').all().map(toSignIn);
  }

  /** Removes `osUser`'s sign-in; the refresh token it held (to revoke at the gateway), if any. */
  remove(osUser: string): string | undefined {
    const refresh = this.refreshToken(osUser);
    this.#db.prepare('DELETE FROM auth_sso_users WHERE os_user = ?').run(osUser);
    this.#access.set(osUser, undefined);
    return refresh;
  }
}

function toSignIn(row: Row): SsoSignIn {
  return {
    osUser: row.os_user,
    user: { id: row.user_id, email: row.email ?? undefined, name: row.name ?? undefined },
    accessExpiresAt: Date.parse(row.access_expires_at),
    signedInAt: row.signed_in_at,
    refreshedAt: row.refreshed_at ?? undefined,
    refreshError: row.refresh_error ?? undefined,
    refreshErrorAt: row.refresh_error_at ?? undefined,
  };
}
