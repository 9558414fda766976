// SSO sign-ins on PostgreSQL: tables `sso_identities` (issuer + subject -> gateway user, with the
// attributes of the last sign-in), `sso_families` (one sign-in of one OS user on one device) and
// `sso_refresh_tokens` (only hashes; a rotated token stays, marked, so a replay is recognised).
import type { RefreshFamilyRecord, RefreshLookup, SsoStore, SsoUserRecord } from '../types.ts';
import type { PgDatabase } from './db.ts';
import { type FamilyRow, type UserRow, toFamily } from '../rows.ts';

export const SSO_TABLES = [
  `CREATE TABLE sso_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    email TEXT NOT NULL,
    name TEXT,
    groups_json TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
  )`,
  'CREATE INDEX sso_identities_user ON sso_identities (user_id)',
  `CREATE TABLE sso_families (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    device_id TEXT NOT NULL REFERENCES devices(id),
    os_user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT
  )`,
  'CREATE INDEX sso_families_user ON sso_families (user_id)',
  'CREATE INDEX sso_families_device ON sso_families (device_id)',
  `CREATE TABLE sso_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES sso_families(id),
    created_at TEXT NOT NULL,
    rotated_at TEXT
  )`,
  'CREATE INDEX sso_refresh_tokens_family ON sso_refresh_tokens (family_id)',
];

const toUser = (r: UserRow): SsoUserRecord => ({
  id: r.id,
  email: r.email,
  name: r.name,
  createdAt: r.created_at,
  disabledAt: r.disabled_at,
  assignedVirtualKey: r.assigned_virtual_key,
  groups: r.groups_json ? (JSON.parse(r.groups_json) as string[]) : [],
  issuer: r.issuer,
});

// The newest identity of the user gives the groups (a person signs in through one IdP in practice).
const USER_SELECT = `SELECT u.id, u.email, u.name, u.created_at, u.disabled_at, u.assigned_virtual_key, i.groups_json, i.issuer
  FROM users u LEFT JOIN LATERAL (SELECT j.groups_json, j.issuer FROM sso_identities j WHERE j.user_id = u.id ORDER BY j.updated_at DESC LIMIT 1) i ON true`;

export class PgSsoStore implements SsoStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async upsertSsoUser(input: { issuer: string; subject: string; email: string; name: string | null; groups: string[]; newUserId: string; at: string }): Promise<SsoUserRecord> {
    const userId = await this.#db.tx(async (q) => {
      // Two replicas handling the first sign-in of one identity at once: the lock makes the second
      // find the user the first created instead of creating another.
      await q.run('SELECT pg_advisory_xact_lock(hashtext($1))', [`sso/${input.issuer}/${input.subject}`]);
      const identity = await q.one<{ user_id: string }>('SELECT user_id FROM sso_identities WHERE issuer = $1 AND subject = $2', [input.issuer, input.subject]);
      // The identity (issuer + subject) is the person; the email is an attribute that may change.
      let id = identity?.user_id ?? (await q.one<{ id: string }>('SELECT id FROM users WHERE lower(email) = lower($1)', [input.email]))?.id;
      if (id === undefined) {
        id = input.newUserId;
        await q.run('INSERT INTO users (id, email, name, created_at) VALUES ($1, $2, $3, $4)', [id, input.email, input.name, input.at]);
      } else {
        const clash = await q.one<{ id: string }>('SELECT id FROM users WHERE lower(email) = lower($1) AND id <> $2', [input.email, id]);
        // Another user already holds the new address: keep the old one rather than merge two people.
        if (!clash) await q.run('UPDATE users SET email = $1 WHERE id = $2', [input.email, id]);
        await q.run('UPDATE users SET name = $1 WHERE id = $2', [input.name, id]);
      }
      await q.run(
        `INSERT INTO sso_identities (issuer, subject, user_id, email, name, groups_json, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name, groups_json = excluded.groups_json, updated_at = excluded.updated_at`,
        [input.issuer, input.subject, id, input.email, input.name, JSON.stringify(input.groups), input.at],
      );
      return id;
    });
    return (await this.#user(userId))!;
  }

  async #user(id: string): Promise<SsoUserRecord | undefined> {
    const row = await this.#db.one<UserRow>(`${USER_SELECT} WHERE u.id = $1`, [id]);
    return row ? toUser(row) : undefined;
  }

  getSsoUser(id: string): Promise<SsoUserRecord | undefined> {
    return this.#user(id);
  }

  async listSsoUsers(): Promise<SsoUserRecord[]> {
    // SQLite orders the NOCASE email column without case; lower() in the "C" collation does the same.
    return (await this.#db.rows<UserRow>(`${USER_SELECT} ORDER BY lower(u.email), u.id`)).map(toUser);
  }

  async setUserDisabled(id: string, disabledAt: string | null): Promise<void> {
    await this.#db.run('UPDATE users SET disabled_at = $1 WHERE id = $2', [disabledAt, id]);
  }

  async assignVirtualKey(id: string, reference: string | null): Promise<void> {
    await this.#db.run('UPDATE users SET assigned_virtual_key = $1 WHERE id = $2', [reference, id]);
  }

  async ssoSeatDevices(userId: string): Promise<string[]> {
    const rows = await this.#db.rows<{ device_id: string }>(
      `SELECT DISTINCT du.device_id FROM device_users du JOIN devices d ON d.id = du.device_id
       WHERE du.user_id = $1 AND du.method = 'sso' AND d.revoked_at IS NULL ORDER BY du.device_id`,
      [userId],
    );
    return rows.map((r) => r.device_id);
  }

  async signInSso(input: { deviceId: string; osUser: string; userId: string; keyId: string; at: string }): Promise<void> {
    await this.#db.run(
      `INSERT INTO device_users (device_id, os_user, user_id, key_id, signed_in_at, method) VALUES ($1, $2, $3, $4, $5, 'sso')
       ON CONFLICT (device_id, os_user) DO UPDATE SET user_id = excluded.user_id, key_id = excluded.key_id, signed_in_at = excluded.signed_in_at, method = 'sso'`,
      [input.deviceId, input.osUser, input.userId, input.keyId, input.at],
    );
  }

  async signOutSso(deviceId: string, osUser: string, userId: string): Promise<void> {
    await this.#db.run("DELETE FROM device_users WHERE device_id = $1 AND os_user = $2 AND user_id = $3 AND method = 'sso'", [deviceId, osUser, userId]);
  }

  async signOutSsoUser(userId: string): Promise<void> {
    await this.#db.run("DELETE FROM device_users WHERE user_id = $1 AND method = 'sso'", [userId]);
  }

  async virtualKeySignIns(deviceId: string): Promise<string[]> {
    const rows = await this.#db.rows<{ key_id: string }>("SELECT DISTINCT key_id FROM device_users WHERE device_id = $1 AND method = 'virtual_key' ORDER BY key_id", [deviceId]);
    return rows.map((r) => r.key_id);
  }

  async createFamily(input: { id: string; userId: string; deviceId: string; osUser: string; at: string; absoluteExpiresAt: string; tokenHash: string }): Promise<void> {
    await this.#db.tx(async (q) => {
      // One live sign-in per OS user of a device: a new sign-in replaces the previous one.
      await q.run("UPDATE sso_families SET revoked_at = $1, revoked_reason = 'replaced' WHERE device_id = $2 AND os_user = $3 AND revoked_at IS NULL", [
        input.at, input.deviceId, input.osUser,
      ]);
      await q.run('INSERT INTO sso_families (id, user_id, device_id, os_user, created_at, last_used_at, absolute_expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6)', [
        input.id, input.userId, input.deviceId, input.osUser, input.at, input.absoluteExpiresAt,
      ]);
      await q.run('INSERT INTO sso_refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)', [input.tokenHash, input.id, input.at]);
    });
  }

  async findRefreshToken(tokenHash: string): Promise<RefreshLookup | undefined> {
    const row = await this.#db.one<FamilyRow & { rotated_at: string | null }>(
      'SELECT f.*, t.rotated_at FROM sso_refresh_tokens t JOIN sso_families f ON f.id = t.family_id WHERE t.token_hash = $1',
      [tokenHash],
    );
    return row ? { family: toFamily(row), rotatedAt: row.rotated_at } : undefined;
  }

  rotateRefreshToken(input: { oldHash: string; newHash: string; familyId: string; at: string }): Promise<boolean> {
    return this.#db.tx(async (q) => {
      // Only the current token rotates: two racing uses of one token (on two replicas too: the row
      // lock of the UPDATE) get one success and one replay.
      if ((await q.run('UPDATE sso_refresh_tokens SET rotated_at = $1 WHERE token_hash = $2 AND rotated_at IS NULL', [input.at, input.oldHash])) === 0) return false;
      await q.run('INSERT INTO sso_refresh_tokens (token_hash, family_id, created_at) VALUES ($1, $2, $3)', [input.newHash, input.familyId, input.at]);
      await q.run('UPDATE sso_families SET last_used_at = $1 WHERE id = $2', [input.at, input.familyId]);
      return true;
    });
  }

  async getFamily(id: string): Promise<RefreshFamilyRecord | undefined> {
    const row = await this.#db.one<FamilyRow>('SELECT * FROM sso_families WHERE id = $1', [id]);
    return row ? toFamily(row) : undefined;
  }

  async revokeFamilies(where: { familyId?: string; userId?: string; deviceId?: string }, reason: string, at: string): Promise<RefreshFamilyRecord[]> {
    const column = where.familyId !== undefined ? 'id' : where.userId !== undefined ? 'user_id' : 'device_id';
    const value = where.familyId ?? where.userId ?? where.deviceId ?? '';
    // One statement: the rows it revoked are exactly the ones it returns, whatever another replica does.
    const rows = await this.#db.rows<FamilyRow>(
      `UPDATE sso_families SET revoked_at = $1, revoked_reason = $2 WHERE ${column} = $3 AND revoked_at IS NULL RETURNING *`,
      [at, reason, value],
    );
    return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(toFamily);
  }
}
