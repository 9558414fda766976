// Credentials held in the store: the device id (a random UUID made once), the device token from
// enrollment and the virtual key of each OS user. The only reader of the secret columns.
// Virtual keys are long-lived secrets: they rest sealed by the TokenVault like the SSO tokens, so a
// copy of the store file (a backup, a disk image) holds no usable key without the machine's vault key.
import { randomUUID } from 'node:crypto';
import type { Database } from '../store/index.ts';
import { VaultError, type TokenVault } from './token-vault.ts';

/** Where a virtual key is sealed for: its row's OS user and its column, so it opens nowhere else. */
const keyContext = (osUser: string): string => `auth_users:${osUser}:virtual_key`;
/** Stores written before sealing hold the key itself; TokenVault values start with their version. */
const isSealed = (stored: string): boolean => stored.startsWith('v1.');

export interface Enrollment {
  deviceId: string;
  deviceToken: string;
  /** When the device token ends (renewed with a signed challenge before then); undefined for a token stored before device keys. */
  tokenExpiresAt: string | undefined;
  /** The control_url the device enrolled at. */
  controlUrl: string;
  /** The websocket URL the gateway named at enrollment, if any (else derived from control_url). */
  connectUrl: string | undefined;
  enrolledAt: string;
}

export interface SignedInUser {
  osUser: string;
  /** The gateway's id and e-mail for the owner of the virtual key, when it said. */
  userId: string | undefined;
  email: string | undefined;
  signedInAt: string;
}

export interface SaveEnrollmentInput {
  deviceToken: string;
  tokenExpiresAt?: string | undefined;
  controlUrl: string;
  connectUrl?: string | undefined;
  osUser: string;
  virtualKey: string;
  userId?: string | undefined;
  email?: string | undefined;
}

interface DeviceRow {
  device_id: string;
  device_token: string | null;
  token_expires_at: string | null;
  control_url: string | null;
  connect_url: string | null;
  enrolled_at: string | null;
  revoked_at: string | null;
}

export class Credentials {
  readonly #db: Database;
  readonly #vault: TokenVault;
  /** Virtual keys read so far, by OS user (undefined: that user has none). */
  readonly #virtualKeys = new Map<string, string | undefined>();
  /**
   * The device row as last read (undefined: there is none yet; null: not read since the last write).
   * The forwarder asks for the device token on every inference request, and reading the row each time
   * was ~9% of the daemon's main thread at 32 concurrent apps (issue 22). The row changes only
   * through this class, and only the daemon holds one (the CLI signs in through its local API), so
   * every write here forgets it and nothing else can make it stale.
   */
  #device: DeviceRow | undefined | null = null;

  constructor(db: Database, vault: TokenVault) {
    this.#db = db;
    this.#vault = vault;
  }

  /**
   * Seals the keys a store from before sealing holds in clear, in one transaction. Freed pages are
   * zeroed and the WAL truncated after, so the clear bytes do not stay behind in the file. Called
   * only with a vault key that survives a restart: sealing under a throwaway key would lose the keys.
   */
  sealPlainKeys(): void {
    const plain = this.#db.prepare<[], { os_user: string; virtual_key: string }>('SELECT os_user, virtual_key FROM auth_users').all().filter((r) => !isSealed(r.virtual_key));
    if (plain.length === 0) return;
    this.#db.pragma('secure_delete = ON');
    const update = this.#db.prepare('UPDATE auth_users SET virtual_key = ? WHERE os_user = ?');
    this.#db.transaction(() => {
      for (const row of plain) update.run(this.#vault.seal(row.virtual_key, keyContext(row.os_user)), row.os_user);
    }).immediate();
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
  }

  #row(): DeviceRow | undefined {
    if (this.#device !== null) return this.#device;
    const row = this.#db
      .prepare<[], DeviceRow>('SELECT device_id, device_token, token_expires_at, control_url, connect_url, enrolled_at, revoked_at FROM auth_device WHERE singleton = 1')
      .get();
    this.#device = row === undefined ? undefined : { ...row };
    return row;
  }

  /** Runs a write to the device row and forgets the cached copy, whether the write succeeded or not. */
  #writeDevice<T>(write: () => T): T {
    try {
      return write();
    } finally {
      this.#device = null;
    }
  }

  /** This device's id, created (random UUID) on first use and kept forever after. */
  deviceId(): string {
    const existing = this.#row();
    if (existing) return existing.device_id;
    // INSERT OR IGNORE: two callers racing both end up reading the one id that won.
    this.#writeDevice(() => this.#db
      .prepare('INSERT OR IGNORE INTO auth_device (singleton, device_id, created_at) VALUES (1, ?, ?)')
      .run(randomUUID(), new Date().toISOString()));
    return this.#row()!.device_id;
  }

  /** The current enrollment, or undefined when the device was never enrolled or was revoked. */
  enrollment(): Enrollment | undefined {
    const row = this.#row();
    if (!row || row.device_token === null || row.control_url === null || row.enrolled_at === null) return undefined;
    return {
      deviceId: row.device_id,
      deviceToken: row.device_token,
      tokenExpiresAt: row.token_expires_at ?? undefined,
      controlUrl: row.control_url,
      connectUrl: row.connect_url ?? undefined,
      enrolledAt: row.enrolled_at,
    };
  }

  /** When the gateway last revoked this device (close code 4401/4403), until the next enrollment. */
  revokedAt(): string | undefined {
    return this.#row()?.revoked_at ?? undefined;
  }

  /** Stores the device token and the user's virtual key in one transaction. */
  saveEnrollment(input: SaveEnrollmentInput): void {
    const now = new Date().toISOString();
    const deviceId = this.deviceId();
    this.#writeDevice(() => this.#db.transaction(() => {
      this.#db
        .prepare(
          'UPDATE auth_device SET device_token = ?, token_expires_at = ?, control_url = ?, connect_url = ?, enrolled_at = ?, revoked_at = NULL WHERE singleton = 1 AND device_id = ?',
        )
        .run(input.deviceToken, input.tokenExpiresAt ?? null, input.controlUrl, input.connectUrl ?? null, now, deviceId);
      this.#db
        .prepare(
          `INSERT INTO auth_users (os_user, virtual_key, user_id, email, signed_in_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(os_user) DO UPDATE SET virtual_key = excluded.virtual_key, user_id = excluded.user_id,
             email = excluded.email, signed_in_at = excluded.signed_in_at`,
        )
        .run(input.osUser, this.#vault.seal(input.virtualKey, keyContext(input.osUser)), input.userId ?? null, input.email ?? null, now);
    }).immediate());
    this.#virtualKeys.delete(input.osUser);
  }

  /** Stores the device token of an enrollment that an SSO sign-in authorized (no virtual key involved). */
  saveDeviceEnrollment(input: { deviceToken: string; tokenExpiresAt: string; controlUrl: string; connectUrl: string | undefined }): void {
    const deviceId = this.deviceId();
    this.#writeDevice(() => this.#db
      .prepare('UPDATE auth_device SET device_token = ?, token_expires_at = ?, control_url = ?, connect_url = ?, enrolled_at = ?, revoked_at = NULL WHERE singleton = 1 AND device_id = ?')
      .run(input.deviceToken, input.tokenExpiresAt, input.controlUrl, input.connectUrl ?? null, new Date().toISOString(), deviceId));
  }

  /** Stores a renewed device token (the enrollment stays as it was); ignored when the device is not enrolled. */
  saveDeviceToken(deviceToken: string, expiresAt: string): void {
    this.#writeDevice(() => this.#db.prepare('UPDATE auth_device SET device_token = ?, token_expires_at = ? WHERE singleton = 1 AND device_token IS NOT NULL').run(deviceToken, expiresAt));
  }

  /**
   * Forgets the device token after the gateway revoked it; the virtual keys stay (they may still be
   * valid for a new enrollment) but the sync channel stays down until `heimdall login` runs again.
   * With `deviceToken`, only that token is forgotten: a login that stored a new one meanwhile wins.
   */
  markRevoked(deviceToken?: string): void {
    const now = new Date().toISOString();
    this.#writeDevice(() => deviceToken === undefined
      ? this.#db.prepare('UPDATE auth_device SET device_token = NULL, revoked_at = ? WHERE singleton = 1').run(now)
      : this.#db.prepare('UPDATE auth_device SET device_token = NULL, revoked_at = ? WHERE singleton = 1 AND device_token = ?').run(now, deviceToken));
  }

  /** The virtual key to forward `osUser`'s inference with, or undefined when that user never signed in. */
  virtualKeyFor(osUser: string): string | undefined {
    // Asked on every forwarded request; the keys change only through this class (sign-in, sign-out).
    if (this.#virtualKeys.has(osUser)) return this.#virtualKeys.get(osUser);
    const stored = this.#db.prepare<[string], { virtual_key: string }>('SELECT virtual_key FROM auth_users WHERE os_user = ?').get(osUser)?.virtual_key;
    let key: string | undefined;
    try {
      // A key still in clear (a store from before sealing, not yet sealed) is used as it is.
      key = stored === undefined || !isSealed(stored) ? stored : this.#vault.open(stored, keyContext(osUser));
    } catch (err) {
      // A store moved from another machine, or a lost vault key: that sign-in cannot be used, and the
      // person is treated as not signed in (the block sentence names `heimdall login`).
      if (!(err instanceof VaultError)) throw err;
      key = undefined;
    }
    this.#virtualKeys.set(osUser, key);
    return key;
  }

  /** The OS users with a virtual key on this device (no secrets), for `hello` and status. */
  signedInUsers(): SignedInUser[] {
    return this.#db
      .prepare<[], { os_user: string; user_id: string | null; email: string | null; signed_in_at: string }>(
        'SELECT os_user, user_id, email, signed_in_at FROM auth_users ORDER BY os_user',
      )
      .all()
      // A key that no longer opens (another machine's vault key) is not a sign-in.
      .filter((r) => this.virtualKeyFor(r.os_user) !== undefined)
      .map((r) => ({ osUser: r.os_user, userId: r.user_id ?? undefined, email: r.email ?? undefined, signedInAt: r.signed_in_at }));
  }

  /** Removes `osUser`'s virtual key (sign out); true when there was one. */
  signOut(osUser: string): boolean {
    this.#virtualKeys.delete(osUser);
    return this.#db.prepare('DELETE FROM auth_users WHERE os_user = ?').run(osUser).changes > 0;
  }
}
