// Devices and their device tokens: tables `devices` and `device_tokens` (one token per enrollment,
// device + OS user; only its hash is kept).
import type { Database, Statement } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { DeviceFacts, DeviceRecord, DeviceStore, DeviceTokenIdentity } from '../types.ts';

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

interface DeviceRow {
  id: string;
  owner_user_id: string;
  email: string;
  hostname: string;
  os: string;
  os_version: string | null;
  arch: string | null;
  agent_version: string | null;
  reported_users: string;
  enrolled_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
}

const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  ownerUserId: r.owner_user_id,
  ownerEmail: r.email,
  hostname: r.hostname,
  os: r.os,
  osVersion: r.os_version,
  arch: r.arch,
  agentVersion: r.agent_version,
  reportedUsers: JSON.parse(r.reported_users) as DeviceRecord['reportedUsers'],
  enrolledAt: r.enrolled_at,
  lastSeenAt: r.last_seen_at,
  revokedAt: r.revoked_at,
});

const DEVICE_SELECT = 'SELECT d.*, u.email FROM devices d JOIN users u ON u.id = d.owner_user_id';

export class SqliteDeviceStore implements DeviceStore {
  readonly #clock: Clock;
  readonly #db: Database;
  readonly #userOfOsUser: Statement<[string, string], { user_id: string }>;

  constructor(db: Database, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#db = db;
    this.#userOfOsUser = db.prepare('SELECT user_id FROM device_tokens WHERE device_id = ? AND os_user = ? ORDER BY created_at DESC LIMIT 1');
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /**
   * The gateway user whose OS user signed in on the device (its newest enrollment), or null when
   * that OS user never enrolled there. Synchronous: event ingestion calls it inside its transaction.
   */
  userOfOsUserNow(deviceId: string, osUser: string): string | null {
    return this.#userOfOsUser.get(deviceId, osUser)?.user_id ?? null;
  }

  enrollDevice(input: { deviceId: string; facts: DeviceFacts; osUser: string; userId: string; keyId: string; tokenId: string; tokenHash: string }): Promise<DeviceRecord> {
    const now = this.#nowIso();
    const { facts } = input;
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO devices (id, owner_user_id, hostname, os, os_version, arch, agent_version, enrolled_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET owner_user_id = excluded.owner_user_id, hostname = excluded.hostname, os = excluded.os,
             os_version = COALESCE(excluded.os_version, devices.os_version), arch = COALESCE(excluded.arch, devices.arch),
             agent_version = COALESCE(excluded.agent_version, devices.agent_version)`,
        )
        .run(input.deviceId, input.userId, facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, now);
      // A new login of the same OS user on the same device replaces that user's previous token.
      this.#db.prepare('UPDATE device_tokens SET revoked_at = ? WHERE device_id = ? AND os_user = ? AND revoked_at IS NULL').run(now, input.deviceId, input.osUser);
      this.#db
        .prepare('INSERT INTO device_tokens (id, token_hash, device_id, os_user, user_id, key_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(input.tokenId, input.tokenHash, input.deviceId, input.osUser, input.userId, input.keyId, now);
    })();
    return Promise.resolve(this.#device(input.deviceId)!);
  }

  findDeviceToken(tokenHash: string): Promise<DeviceTokenIdentity | undefined> {
    const row = this.#db
      .prepare<[string], { id: string; device_id: string; os_user: string; user_id: string; key_id: string; token_revoked: string | null; device_revoked: string | null; key_revoked: string | null }>(
        `SELECT t.id, t.device_id, t.os_user, t.user_id, t.key_id, t.revoked_at AS token_revoked, d.revoked_at AS device_revoked, k.revoked_at AS key_revoked
         FROM device_tokens t JOIN devices d ON d.id = t.device_id JOIN virtual_keys k ON k.id = t.key_id WHERE t.token_hash = ?`,
      )
      .get(tokenHash);
    if (!row) return Promise.resolve(undefined);
    const identity: DeviceTokenIdentity = { tokenId: row.id, deviceId: row.device_id, osUser: row.os_user, userId: row.user_id, keyId: row.key_id };
    if (row.device_revoked) identity.refused = 'device_revoked';
    else if (row.key_revoked) identity.refused = 'key_revoked';
    else if (row.token_revoked) identity.refused = 'token_revoked';
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

  revokeDevice(id: string): Promise<DeviceRecord | undefined> {
    this.#db.prepare('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(this.#nowIso(), id);
    return Promise.resolve(this.#device(id));
  }

  devicesEnrolledWithKey(keyId: string): Promise<string[]> {
    const rows = this.#db.prepare<[string], { device_id: string }>('SELECT DISTINCT device_id FROM device_tokens WHERE key_id = ? AND revoked_at IS NULL').all(keyId);
    return Promise.resolve(rows.map((r) => r.device_id));
  }

  deviceUserMap(deviceId: string): Promise<Map<string, string>> {
    const rows = this.#db
      .prepare<[string], { os_user: string; user_id: string }>(
        `SELECT t.os_user, t.user_id FROM device_tokens t JOIN virtual_keys k ON k.id = t.key_id
         WHERE t.device_id = ? AND t.revoked_at IS NULL AND k.revoked_at IS NULL ORDER BY t.created_at`,
      )
      .all(deviceId);
    return Promise.resolve(new Map(rows.map((r) => [r.os_user, r.user_id])));
  }
}
