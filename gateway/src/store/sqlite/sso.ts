// SSO sign-ins (issue 18): tables `sso_identities` (a person at an IdP: issuer + subject -> gateway
// user, with the email, name and groups of their last sign-in), `sso_families` (one sign-in of one OS
// user on one device: the refresh family) and `sso_refresh_tokens` (only hashes; a rotated token is
// kept, marked, so presenting it again is recognised as a replay). Users gain a name, a disabled
// mark and an administrator-assigned virtual key reference; device sign-ins gain their method.
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import type { RefreshFamilyRecord, RefreshLookup, SsoStore, SsoUserRecord } from '../types.ts';
import { type FamilyRow, type UserRow, toFamily } from '../rows.ts';

export function createSsoTables(db: SchemaDatabase): void {
  db.exec('ALTER TABLE users ADD COLUMN name TEXT');
  db.exec('ALTER TABLE users ADD COLUMN disabled_at TEXT');
  db.exec('ALTER TABLE users ADD COLUMN assigned_virtual_key TEXT');
  // 'virtual_key' (heimdall login --virtual-key) or 'sso': a device's revocation revokes the keys of
  // the first kind only (a group's key shared by hundreds of people must not die with one laptop).
  db.exec("ALTER TABLE device_users ADD COLUMN method TEXT NOT NULL DEFAULT 'virtual_key'");
  db.exec(`CREATE TABLE sso_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    email TEXT NOT NULL,
    name TEXT,
    groups_json TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
  ) STRICT`);
  db.exec('CREATE INDEX sso_identities_user ON sso_identities (user_id)');
  db.exec(`CREATE TABLE sso_families (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    device_id TEXT NOT NULL REFERENCES devices(id),
    os_user TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT
  ) STRICT`);
  db.exec('CREATE INDEX sso_families_user ON sso_families (user_id)');
  db.exec('CREATE INDEX sso_families_device ON sso_families (device_id)');
  db.exec(`CREATE TABLE sso_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL REFERENCES sso_families(id),
    created_at TEXT NOT NULL,
    rotated_at TEXT
  ) STRICT`);
  db.exec('CREATE INDEX sso_refresh_tokens_family ON sso_refresh_tokens (family_id)');
}

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
  FROM users u LEFT JOIN sso_identities i ON i.user_id = u.id AND i.updated_at = (SELECT MAX(updated_at) FROM sso_identities j WHERE j.user_id = u.id)`;

export class SqliteSsoStore implements SsoStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  upsertSsoUser(input: { issuer: string; subject: string; email: string; name: string | null; groups: string[]; newUserId: string; at: string }): Promise<SsoUserRecord> {
    const userId = this.#db.transaction(() => {
      const identity = this.#db.prepare<[string, string], { user_id: string }>('SELECT user_id FROM sso_identities WHERE issuer = ? AND subject = ?').get(input.issuer, input.subject);
      // The identity (issuer + subject) is the person; the email is an attribute that may change.
      // A first sign-in joins a user an administrator created by email (a virtual key made for them).
      let id = identity?.user_id ?? this.#db.prepare<[string], { id: string }>('SELECT id FROM users WHERE email = ?').get(input.email)?.id;
      if (id === undefined) {
        id = input.newUserId;
        this.#db.prepare('INSERT INTO users (id, email, name, created_at) VALUES (?, ?, ?, ?)').run(id, input.email, input.name, input.at);
      } else {
        const clash = this.#db.prepare<[string, string], { id: string }>('SELECT id FROM users WHERE email = ? AND id <> ?').get(input.email, id);
        // Another user already holds the new address: keep the old one rather than merge two people.
        if (!clash) this.#db.prepare('UPDATE users SET email = ? WHERE id = ?').run(input.email, id);
        this.#db.prepare('UPDATE users SET name = ? WHERE id = ?').run(input.name, id);
      }
      this.#db
        .prepare(
          `INSERT INTO sso_identities (issuer, subject, user_id, email, name, groups_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, name = excluded.name, groups_json = excluded.groups_json, updated_at = excluded.updated_at`,
        )
        .run(input.issuer, input.subject, id, input.email, input.name, JSON.stringify(input.groups), input.at);
      return id;
    })();
    return Promise.resolve(this.#user(userId)!);
  }

  #user(id: string): SsoUserRecord | undefined {
    const row = this.#db.prepare<[string], UserRow>(`${USER_SELECT} WHERE u.id = ?`).get(id);
    return row ? toUser(row) : undefined;
  }

  getSsoUser(id: string): Promise<SsoUserRecord | undefined> {
    return Promise.resolve(this.#user(id));
  }

  listSsoUsers(): Promise<SsoUserRecord[]> {
    return Promise.resolve(this.#db.prepare<[], UserRow>(`${USER_SELECT} ORDER BY u.email`).all().map(toUser));
  }

  setUserDisabled(id: string, disabledAt: string | null): Promise<void> {
    this.#db.prepare('UPDATE users SET disabled_at = ? WHERE id = ?').run(disabledAt, id);
    return Promise.resolve();
  }

  assignVirtualKey(id: string, reference: string | null): Promise<void> {
    this.#db.prepare('UPDATE users SET assigned_virtual_key = ? WHERE id = ?').run(reference, id);
    return Promise.resolve();
  }

  ssoSeatDevices(userId: string): Promise<string[]> {
    const rows = this.#db
      .prepare<[string], { device_id: string }>(
        `SELECT DISTINCT du.device_id FROM device_users du JOIN devices d ON d.id = du.device_id
         WHERE du.user_id = ? AND du.method = 'sso' AND d.revoked_at IS NULL`,
      )
      .all(userId);
    return Promise.resolve(rows.map((r) => r.device_id));
  }

  signInSso(input: { deviceId: string; osUser: string; userId: string; keyId: string; at: string }): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO device_users (device_id, os_user, user_id, key_id, signed_in_at, method) VALUES (?, ?, ?, ?, ?, 'sso')
         ON CONFLICT (device_id, os_user) DO UPDATE SET user_id = excluded.user_id, key_id = excluded.key_id, signed_in_at = excluded.signed_in_at, method = 'sso'`,
      )
      .run(input.deviceId, input.osUser, input.userId, input.keyId, input.at);
    return Promise.resolve();
  }

  signOutSso(deviceId: string, osUser: string, userId: string): Promise<void> {
    this.#db.prepare("DELETE FROM device_users WHERE device_id = ? AND os_user = ? AND user_id = ? AND method = 'sso'").run(deviceId, osUser, userId);
    return Promise.resolve();
  }

  signOutSsoUser(userId: string): Promise<void> {
    this.#db.prepare("DELETE FROM device_users WHERE user_id = ? AND method = 'sso'").run(userId);
    return Promise.resolve();
  }

  virtualKeySignIns(deviceId: string): Promise<string[]> {
    const rows = this.#db.prepare<[string], { key_id: string }>("SELECT DISTINCT key_id FROM device_users WHERE device_id = ? AND method = 'virtual_key'").all(deviceId);
    return Promise.resolve(rows.map((r) => r.key_id));
  }

  createFamily(input: { id: string; userId: string; deviceId: string; osUser: string; at: string; absoluteExpiresAt: string; tokenHash: string }): Promise<void> {
    this.#db.transaction(() => {
      // One live sign-in per OS user of a device: a new sign-in replaces the previous one.
      this.#db
        .prepare("UPDATE sso_families SET revoked_at = ?, revoked_reason = 'replaced' WHERE device_id = ? AND os_user = ? AND revoked_at IS NULL")
        .run(input.at, input.deviceId, input.osUser);
      this.#db
        .prepare('INSERT INTO sso_families (id, user_id, device_id, os_user, created_at, last_used_at, absolute_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(input.id, input.userId, input.deviceId, input.osUser, input.at, input.at, input.absoluteExpiresAt);
      this.#db.prepare('INSERT INTO sso_refresh_tokens (token_hash, family_id, created_at) VALUES (?, ?, ?)').run(input.tokenHash, input.id, input.at);
    })();
    return Promise.resolve();
  }

  findRefreshToken(tokenHash: string): Promise<RefreshLookup | undefined> {
    const row = this.#db
      .prepare<[string], FamilyRow & { rotated_at: string | null }>(
        'SELECT f.*, t.rotated_at FROM sso_refresh_tokens t JOIN sso_families f ON f.id = t.family_id WHERE t.token_hash = ?',
      )
      .get(tokenHash);
    return Promise.resolve(row ? { family: toFamily(row), rotatedAt: row.rotated_at } : undefined);
  }

  rotateRefreshToken(input: { oldHash: string; newHash: string; familyId: string; at: string }): Promise<boolean> {
    const rotated = this.#db.transaction(() => {
      // Only the current token rotates: two racing uses of one token get one success and one replay.
      const changed = this.#db.prepare('UPDATE sso_refresh_tokens SET rotated_at = ? WHERE token_hash = ? AND rotated_at IS NULL').run(input.at, input.oldHash).changes;
      if (changed === 0) return false;
      this.#db.prepare('INSERT INTO sso_refresh_tokens (token_hash, family_id, created_at) VALUES (?, ?, ?)').run(input.newHash, input.familyId, input.at);
      this.#db.prepare('UPDATE sso_families SET last_used_at = ? WHERE id = ?').run(input.at, input.familyId);
      return true;
    })();
    return Promise.resolve(rotated);
  }

  getFamily(id: string): Promise<RefreshFamilyRecord | undefined> {
    const row = this.#db.prepare<[string], FamilyRow>('SELECT * FROM sso_families WHERE id = ?').get(id);
    return Promise.resolve(row ? toFamily(row) : undefined);
  }

  revokeFamilies(where: { familyId?: string; userId?: string; deviceId?: string }, reason: string, at: string): Promise<RefreshFamilyRecord[]> {
    const clause = where.familyId !== undefined ? 'id = ?' : where.userId !== undefined ? 'user_id = ?' : 'device_id = ?';
    const value = where.familyId ?? where.userId ?? where.deviceId ?? '';
    const rows = this.#db.transaction(() => {
      const live = this.#db.prepare<[string], FamilyRow>(`SELECT * FROM sso_families WHERE ${clause} AND revoked_at IS NULL`).all(value);
      this.#db.prepare(`UPDATE sso_families SET revoked_at = ?, revoked_reason = ? WHERE ${clause} AND revoked_at IS NULL`).run(at, reason, value);
      return live;
    })();
    return Promise.resolve(rows.map((r) => ({ ...toFamily(r), revokedAt: at, revokedReason: reason })));
  }
}
