// Devices, who is signed in on them, and their device tokens: tables `devices` (id <-> public key,
// bound at first enrollment), `device_users` (the OS users signed in on a device, each through one
// virtual key) and `device_sessions` (short-lived device tokens; only their hash is kept).
// A device belongs to the organisation: `owner_user_id` records who enrolled it first and never changes.
import type { Database, Statement } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { DeviceFacts, DevicePageQuery, DeviceRecord, DeviceStatusRow, DeviceStore, DeviceTokenIdentity, DeviceUserRecord } from '../types.ts';
import { DEVICE_SELECT, type DeviceRow, toDevice } from '../rows.ts';

export function createDeviceTables(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    owner_user_id TEXT NOT NULL REFERENCES users(id),
    hostname TEXT NOT NULL,
    os TEXT NOT NULL,
    os_version TEXT,
    arch TEXT,
    agent_version TEXT,
    reported_users TEXT NOT NULL DEFAULT '[]',
    enrolled_at TEXT NOT NULL,
    last_seen_at TEXT,
    revoked_at TEXT
  ) STRICT`);
  db.exec(`CREATE TABLE device_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL REFERENCES devices(id),
    os_user TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    key_id TEXT NOT NULL REFERENCES virtual_keys(id),
    created_at TEXT NOT NULL,
    revoked_at TEXT
  ) STRICT`);
  db.exec('CREATE INDEX device_tokens_device ON device_tokens (device_id)');
  db.exec('CREATE INDEX device_tokens_key ON device_tokens (key_id)');
}

/**
 * Migration 3: device identity is proven by a key pair. Devices gain their public key (unique: one
 * key, one device); who is signed in moves to `device_users` (kept from each OS user's newest live
 * enrollment); tokens become short-lived `device_sessions`. Devices enrolled before have no key: the
 * next enrollment by one of their signed-in users binds one (an administrator's reset allows anyone).
 */
export function bindDeviceKeys(db: SchemaDatabase): void {
  db.exec('ALTER TABLE devices ADD COLUMN public_key TEXT');
  db.exec('CREATE UNIQUE INDEX devices_public_key ON devices (public_key)');
  db.exec(`CREATE TABLE device_users (
    device_id TEXT NOT NULL REFERENCES devices(id),
    os_user TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    key_id TEXT NOT NULL REFERENCES virtual_keys(id),
    signed_in_at TEXT NOT NULL,
    PRIMARY KEY (device_id, os_user)
  ) STRICT`);
  db.exec('CREATE INDEX device_users_key ON device_users (key_id)');
  db.exec(`INSERT INTO device_users (device_id, os_user, user_id, key_id, signed_in_at)
    SELECT t.device_id, t.os_user, t.user_id, t.key_id, t.created_at FROM device_tokens t
    WHERE t.revoked_at IS NULL AND t.created_at = (SELECT MAX(created_at) FROM device_tokens u WHERE u.device_id = t.device_id AND u.os_user = t.os_user AND u.revoked_at IS NULL)
    GROUP BY t.device_id, t.os_user`);
  db.exec('DROP TABLE device_tokens');
  db.exec(`CREATE TABLE device_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL REFERENCES devices(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
  ) STRICT`);
  db.exec('CREATE INDEX device_sessions_device ON device_sessions (device_id)');
}

/** Migration 5: the console pages through devices by hostname (10,000 of them stay one index walk). */
export function indexDevicesByHostname(db: SchemaDatabase): void {
  db.exec('CREATE INDEX devices_hostname ON devices (hostname, id)');
}

/** `text` as a LIKE pattern matching itself anywhere (its % and _ taken literally). */
const containsPattern = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class SqliteDeviceStore implements DeviceStore {
  readonly #clock: Clock;
  readonly #db: Database;
  readonly #userOfOsUser: Statement<[string, string], { user_id: string }>;

  constructor(db: Database, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#db = db;
    this.#userOfOsUser = db.prepare('SELECT user_id FROM device_users WHERE device_id = ? AND os_user = ?');
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /**
   * The gateway user whose OS user is signed in on the device, or null when that OS user is not.
   * Synchronous: event ingestion calls it inside its transaction.
   */
  userOfOsUserNow(deviceId: string, osUser: string): string | null {
    return this.#userOfOsUser.get(deviceId, osUser)?.user_id ?? null;
  }

  enrollDevice(input: { deviceId: string; facts: DeviceFacts; publicKey: string; osUser: string; userId: string; keyId: string }): Promise<DeviceRecord> {
    const now = this.#nowIso();
    const { facts } = input;
    this.#db.transaction(() => {
      // The first enrollment names who enrolled the device; later sign-ins of other people never
      // change it, and the key is bound once (a reset by an administrator clears it).
      this.#db
        .prepare(
          `INSERT INTO devices (id, owner_user_id, hostname, os, os_version, arch, agent_version, enrolled_at, public_key)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os,
             os_version = COALESCE(excluded.os_version, devices.os_version), arch = COALESCE(excluded.arch, devices.arch),
             agent_version = COALESCE(excluded.agent_version, devices.agent_version),
             public_key = COALESCE(devices.public_key, excluded.public_key)`,
        )
        .run(input.deviceId, input.userId, facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, now, input.publicKey);
      this.#db
        .prepare(
          `INSERT INTO device_users (device_id, os_user, user_id, key_id, signed_in_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (device_id, os_user) DO UPDATE SET user_id = excluded.user_id, key_id = excluded.key_id, signed_in_at = excluded.signed_in_at, method = 'virtual_key'`,
        )
        .run(input.deviceId, input.osUser, input.userId, input.keyId, now);
    })();
    return Promise.resolve(this.#device(input.deviceId)!);
  }

  deviceByPublicKey(publicKey: string): Promise<DeviceRecord | undefined> {
    const row = this.#db.prepare<[string], DeviceRow>(`${DEVICE_SELECT} WHERE d.public_key = ?`).get(publicKey);
    return Promise.resolve(row ? toDevice(row) : undefined);
  }

  issueDeviceToken(input: { tokenId: string; tokenHash: string; deviceId: string; expiresAt: string }): Promise<void> {
    const now = this.#nowIso();
    this.#db.transaction(() => {
      // Expired tokens of this device go when it gets a new one: the table stays a few rows per device.
      this.#db.prepare('DELETE FROM device_sessions WHERE device_id = ? AND expires_at <= ?').run(input.deviceId, now);
      this.#db
        .prepare('INSERT INTO device_sessions (id, token_hash, device_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
        .run(input.tokenId, input.tokenHash, input.deviceId, now, input.expiresAt);
    })();
    return Promise.resolve();
  }

  findDeviceToken(tokenHash: string): Promise<DeviceTokenIdentity | undefined> {
    const row = this.#db
      .prepare<[string], { id: string; device_id: string; expires_at: string; device_revoked: string | null }>(
        `SELECT s.id, s.device_id, s.expires_at, d.revoked_at AS device_revoked
         FROM device_sessions s JOIN devices d ON d.id = s.device_id WHERE s.token_hash = ?`,
      )
      .get(tokenHash);
    if (!row) return Promise.resolve(undefined);
    const identity: DeviceTokenIdentity = { tokenId: row.id, deviceId: row.device_id, expiresAt: row.expires_at };
    if (row.device_revoked) identity.refused = 'device_revoked';
    else if (Date.parse(row.expires_at) <= this.#clock.now()) identity.refused = 'token_expired';
    return Promise.resolve(identity);
  }

  #device(id: string): DeviceRecord | undefined {
    const row = this.#db.prepare<[string], DeviceRow>(`${DEVICE_SELECT} WHERE d.id = ?`).get(id);
    return row ? toDevice(row) : undefined;
  }

  getDevice(id: string): Promise<DeviceRecord | undefined> {
    return Promise.resolve(this.#device(id));
  }

  listDevices(): Promise<DeviceRecord[]> {
    return Promise.resolve(this.#db.prepare<[], DeviceRow>(`${DEVICE_SELECT} ORDER BY d.hostname, d.id`).all().map(toDevice));
  }

  devicePage(query: DevicePageQuery): Promise<DeviceRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.search) {
      where.push("(d.hostname LIKE ? ESCAPE '\\' OR u.email LIKE ? ESCAPE '\\')");
      params.push(containsPattern(query.search), containsPattern(query.search));
    }
    if (query.os) {
      where.push('d.os = ?');
      params.push(query.os);
    }
    if (query.after) {
      where.push('(d.hostname, d.id) > (?, ?)');
      params.push(query.after.hostname, query.after.id);
    }
    const sql = `${DEVICE_SELECT} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.hostname, d.id LIMIT ?`;
    return Promise.resolve(this.#db.prepare<unknown[], DeviceRow>(sql).all(...params, query.limit).map(toDevice));
  }

  deviceStatusRows(): Promise<DeviceStatusRow[]> {
    const rows = this.#db.prepare<[], { id: string; os: string; revoked: number }>('SELECT id, os, revoked_at IS NOT NULL AS revoked FROM devices').all();
    return Promise.resolve(rows.map((r) => ({ id: r.id, os: r.os, revoked: r.revoked === 1 })));
  }

  updateDeviceFromHello(id: string, facts: DeviceFacts, reportedUsers: DeviceRecord['reportedUsers'], at: string): Promise<void> {
    this.#db
      .prepare('UPDATE devices SET hostname = ?, os = ?, os_version = ?, arch = ?, agent_version = ?, reported_users = ?, last_seen_at = ? WHERE id = ?')
      .run(facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, JSON.stringify(reportedUsers), at, id);
    return Promise.resolve();
  }

  touchDevice(id: string, at: string): Promise<void> {
    this.#db.prepare('UPDATE devices SET last_seen_at = ? WHERE id = ?').run(at, id);
    return Promise.resolve();
  }

  /**
   * Marks the device revoked: its key stays bound, so neither id nor key enrolls again, and its
   * tokens stay known so that they are answered 403 (revoked), not 401 (unknown).
   */
  revokeDevice(id: string): Promise<DeviceRecord | undefined> {
    this.#db.prepare('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(this.#nowIso(), id);
    return Promise.resolve(this.#device(id));
  }

  /** An administrator's reset: the id may be enrolled again with a new key; revocation and sign-ins are cleared. */
  resetDevice(id: string): Promise<DeviceRecord | undefined> {
    this.#db.transaction(() => {
      this.#db.prepare('UPDATE devices SET public_key = NULL, revoked_at = NULL WHERE id = ?').run(id);
      this.#db.prepare('DELETE FROM device_sessions WHERE device_id = ?').run(id);
      this.#db.prepare('DELETE FROM device_users WHERE device_id = ?').run(id);
    })();
    return Promise.resolve(this.#device(id));
  }

  devicesEnrolledWithKey(keyId: string): Promise<string[]> {
    const rows = this.#db.prepare<[string], { device_id: string }>('SELECT DISTINCT device_id FROM device_users WHERE key_id = ?').all(keyId);
    return Promise.resolve(rows.map((r) => r.device_id));
  }

  /** Signs the key's users out of every device (the key was revoked); the devices themselves stay enrolled. */
  signOutKey(keyId: string): Promise<string[]> {
    const devices = this.#db.prepare<[string], { device_id: string }>('SELECT DISTINCT device_id FROM device_users WHERE key_id = ?').all(keyId);
    this.#db.prepare('DELETE FROM device_users WHERE key_id = ?').run(keyId);
    return Promise.resolve(devices.map((r) => r.device_id));
  }

  deviceUsers(deviceId: string): Promise<DeviceUserRecord[]> {
    const rows = this.#db
      .prepare<[string], { os_user: string; user_id: string; email: string; key_id: string; signed_in_at: string }>(
        `SELECT du.os_user, du.user_id, u.email, du.key_id, du.signed_in_at FROM device_users du JOIN users u ON u.id = du.user_id
         WHERE du.device_id = ? ORDER BY du.os_user`,
      )
      .all(deviceId);
    return Promise.resolve(rows.map((r) => ({ osUser: r.os_user, userId: r.user_id, userEmail: r.email, keyId: r.key_id, signedInAt: r.signed_in_at })));
  }

  deviceUserMap(deviceId: string): Promise<Map<string, string>> {
    const rows = this.#db
      .prepare<[string], { os_user: string; user_id: string }>(
        `SELECT du.os_user, du.user_id FROM device_users du JOIN virtual_keys k ON k.id = du.key_id
         WHERE du.device_id = ? AND k.revoked_at IS NULL ORDER BY du.signed_in_at`,
      )
      .all(deviceId);
    return Promise.resolve(new Map(rows.map((r) => [r.os_user, r.user_id])));
  }
}
