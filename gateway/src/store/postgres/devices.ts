// Devices, who is signed in on them, and their device tokens on PostgreSQL: tables `devices` (id <->
// public key, bound at first enrollment), `device_users` (OS users signed in, each through one
// virtual key or SSO) and `device_sessions` (short-lived device tokens; only their hash is kept).
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { DeviceFacts, DevicePageQuery, DeviceRecord, DeviceStatusRow, DeviceStore, DeviceTokenIdentity, DeviceUserRecord } from '../types.ts';
import type { PgDatabase, Queryable } from './db.ts';
import { DEVICE_SELECT, type DeviceRow, toDevice } from '../rows.ts';

export const DEVICE_TABLES = [
  `CREATE TABLE devices (
    id TEXT COLLATE "C" PRIMARY KEY,
    owner_user_id TEXT NOT NULL REFERENCES users(id),
    hostname TEXT COLLATE "C" NOT NULL,
    os TEXT NOT NULL,
    os_version TEXT,
    arch TEXT,
    agent_version TEXT,
    reported_users TEXT NOT NULL DEFAULT '[]',
    enrolled_at TEXT NOT NULL,
    last_seen_at TEXT,
    revoked_at TEXT,
    public_key TEXT UNIQUE
  )`,
  'CREATE INDEX devices_hostname ON devices (hostname, id)',
  `CREATE TABLE device_users (
    device_id TEXT NOT NULL REFERENCES devices(id),
    os_user TEXT COLLATE "C" NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    key_id TEXT NOT NULL REFERENCES virtual_keys(id),
    signed_in_at TEXT NOT NULL,
    method TEXT NOT NULL DEFAULT 'virtual_key' CHECK (method IN ('virtual_key', 'sso')),
    PRIMARY KEY (device_id, os_user)
  )`,
  'CREATE INDEX device_users_key ON device_users (key_id)',
  'CREATE INDEX device_users_user ON device_users (user_id)',
  `CREATE TABLE device_sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL REFERENCES devices(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
  )`,
  'CREATE INDEX device_sessions_device ON device_sessions (device_id)',
];

/** `text` as an ILIKE pattern matching itself anywhere (its % and _ taken literally). */
export const containsPattern = (text: string): string => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export class PgDeviceStore implements DeviceStore {
  readonly #db: PgDatabase;
  readonly #clock: Clock;

  constructor(db: PgDatabase, clock: Clock = systemClock) {
    this.#db = db;
    this.#clock = clock;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /** The gateway user whose OS user is signed in on the device, or null; inside the caller's transaction. */
  async userOfOsUser(q: Queryable, deviceId: string, osUser: string): Promise<string | null> {
    return (await q.one<{ user_id: string }>('SELECT user_id FROM device_users WHERE device_id = $1 AND os_user = $2', [deviceId, osUser]))?.user_id ?? null;
  }

  async enrollDevice(input: { deviceId: string; facts: DeviceFacts; publicKey: string; osUser: string; userId: string; keyId: string }): Promise<DeviceRecord> {
    const now = this.#nowIso();
    const { facts } = input;
    await this.#db.tx(async (q) => {
      // The first enrollment names the owner; the key is bound once (an administrator's reset clears it).
      await q.run(
        `INSERT INTO devices (id, owner_user_id, hostname, os, os_version, arch, agent_version, enrolled_at, public_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, os = excluded.os,
           os_version = COALESCE(excluded.os_version, devices.os_version), arch = COALESCE(excluded.arch, devices.arch),
           agent_version = COALESCE(excluded.agent_version, devices.agent_version),
           public_key = COALESCE(devices.public_key, excluded.public_key)`,
        [input.deviceId, input.userId, facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, now, input.publicKey],
      );
      await q.run(
        `INSERT INTO device_users (device_id, os_user, user_id, key_id, signed_in_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (device_id, os_user) DO UPDATE SET user_id = excluded.user_id, key_id = excluded.key_id, signed_in_at = excluded.signed_in_at, method = 'virtual_key'`,
        [input.deviceId, input.osUser, input.userId, input.keyId, now],
      );
    });
    return (await this.#device(input.deviceId))!;
  }

  async deviceByPublicKey(publicKey: string): Promise<DeviceRecord | undefined> {
    const row = await this.#db.one<DeviceRow>(`${DEVICE_SELECT} WHERE d.public_key = $1`, [publicKey]);
    return row ? toDevice(row) : undefined;
  }

  async issueDeviceToken(input: { tokenId: string; tokenHash: string; deviceId: string; expiresAt: string }): Promise<void> {
    const now = this.#nowIso();
    await this.#db.tx(async (q) => {
      // Expired tokens of this device go when it gets a new one: the table stays a few rows per device.
      await q.run('DELETE FROM device_sessions WHERE device_id = $1 AND expires_at <= $2', [input.deviceId, now]);
      await q.run('INSERT INTO device_sessions (id, token_hash, device_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        input.tokenId, input.tokenHash, input.deviceId, now, input.expiresAt,
      ]);
    });
  }

  async findDeviceToken(tokenHash: string): Promise<DeviceTokenIdentity | undefined> {
    const row = await this.#db.one<{ id: string; device_id: string; expires_at: string; device_revoked: string | null }>(
      `SELECT s.id, s.device_id, s.expires_at, d.revoked_at AS device_revoked
       FROM device_sessions s JOIN devices d ON d.id = s.device_id WHERE s.token_hash = $1`,
      [tokenHash],
    );
    if (!row) return undefined;
    const identity: DeviceTokenIdentity = { tokenId: row.id, deviceId: row.device_id, expiresAt: row.expires_at };
    if (row.device_revoked) identity.refused = 'device_revoked';
    else if (Date.parse(row.expires_at) <= this.#clock.now()) identity.refused = 'token_expired';
    return identity;
  }

  async #device(id: string): Promise<DeviceRecord | undefined> {
    const row = await this.#db.one<DeviceRow>(`${DEVICE_SELECT} WHERE d.id = $1`, [id]);
    return row ? toDevice(row) : undefined;
  }

  getDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.#device(id);
  }

  async listDevices(): Promise<DeviceRecord[]> {
    return (await this.#db.rows<DeviceRow>(`${DEVICE_SELECT} ORDER BY d.hostname, d.id`)).map(toDevice);
  }

  async devicePage(query: DevicePageQuery): Promise<DeviceRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const param = (value: string | number): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (query.search) {
      const pattern = param(containsPattern(query.search));
      where.push(`(d.hostname ILIKE ${pattern} OR u.email ILIKE ${pattern})`);
    }
    if (query.os) where.push(`d.os = ${param(query.os)}`);
    if (query.after) where.push(`(d.hostname, d.id) > (${param(query.after.hostname)}, ${param(query.after.id)})`);
    const sql = `${DEVICE_SELECT} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY d.hostname, d.id LIMIT ${param(query.limit)}`;
    return (await this.#db.rows<DeviceRow>(sql, params)).map(toDevice);
  }

  async deviceStatusRows(): Promise<DeviceStatusRow[]> {
    const rows = await this.#db.rows<{ id: string; os: string; revoked: boolean }>('SELECT id, os, revoked_at IS NOT NULL AS revoked FROM devices');
    return rows.map((r) => ({ id: r.id, os: r.os, revoked: r.revoked }));
  }

  async updateDeviceFromHello(id: string, facts: DeviceFacts, reportedUsers: DeviceRecord['reportedUsers'], at: string): Promise<void> {
    await this.#db.run('UPDATE devices SET hostname = $1, os = $2, os_version = $3, arch = $4, agent_version = $5, reported_users = $6, last_seen_at = $7 WHERE id = $8', [
      facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, JSON.stringify(reportedUsers), at, id,
    ]);
  }

  async touchDevice(id: string, at: string): Promise<void> {
    await this.#db.run('UPDATE devices SET last_seen_at = $1 WHERE id = $2', [at, id]);
  }

  /** Marks the device revoked: its key stays bound and its tokens stay known (answered 403, not 401). */
  async revokeDevice(id: string): Promise<DeviceRecord | undefined> {
    await this.#db.run('UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [this.#nowIso(), id]);
    return this.#device(id);
  }

  /** An administrator's reset: the id may be enrolled again with a new key; revocation and sign-ins are cleared. */
  async resetDevice(id: string): Promise<DeviceRecord | undefined> {
    await this.#db.tx(async (q) => {
      await q.run('UPDATE devices SET public_key = NULL, revoked_at = NULL WHERE id = $1', [id]);
      await q.run('DELETE FROM device_sessions WHERE device_id = $1', [id]);
      await q.run('DELETE FROM device_users WHERE device_id = $1', [id]);
    });
    return this.#device(id);
  }

  async devicesEnrolledWithKey(keyId: string): Promise<string[]> {
    return (await this.#db.rows<{ device_id: string }>('SELECT DISTINCT device_id FROM device_users WHERE key_id = $1', [keyId])).map((r) => r.device_id);
  }

  /** Signs the key's users out of every device (the key was revoked); the devices stay enrolled. */
  async signOutKey(keyId: string): Promise<string[]> {
    const rows = await this.#db.rows<{ device_id: string }>(
      'WITH gone AS (DELETE FROM device_users WHERE key_id = $1 RETURNING device_id) SELECT DISTINCT device_id FROM gone ORDER BY device_id',
      [keyId],
    );
    return rows.map((r) => r.device_id);
  }

  async deviceUsers(deviceId: string): Promise<DeviceUserRecord[]> {
    const rows = await this.#db.rows<{ os_user: string; user_id: string; email: string; key_id: string; signed_in_at: string }>(
      `SELECT du.os_user, du.user_id, u.email, du.key_id, du.signed_in_at FROM device_users du JOIN users u ON u.id = du.user_id
       WHERE du.device_id = $1 ORDER BY du.os_user`,
      [deviceId],
    );
    return rows.map((r) => ({ osUser: r.os_user, userId: r.user_id, userEmail: r.email, keyId: r.key_id, signedInAt: r.signed_in_at }));
  }

  async deviceUserMap(deviceId: string): Promise<Map<string, string>> {
    const rows = await this.#db.rows<{ os_user: string; user_id: string }>(
      `SELECT du.os_user, du.user_id FROM device_users du JOIN virtual_keys k ON k.id = du.key_id
       WHERE du.device_id = $1 AND k.revoked_at IS NULL ORDER BY du.signed_in_at, du.os_user`,
      [deviceId],
    );
    return new Map(rows.map((r) => [r.os_user, r.user_id]));
  }
}
