// Users and their virtual keys: tables `users` and `virtual_keys` (only a hash of each key is kept;
// the key itself is shown once, at creation).
import { randomUUID } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { UserKeyStore, UserRecord, VirtualKeyRecord } from '../types.ts';
import { KEY_SELECT, type KeyRow, toKey } from '../rows.ts';

export function createUserKeyTables(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    created_at TEXT NOT NULL
  ) STRICT`);
  db.exec(`CREATE TABLE virtual_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
  ) STRICT`);
}

export class SqliteUserKeyStore implements UserKeyStore {
  readonly #clock: Clock;
  readonly #db: Database;

  constructor(db: Database, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#db = db;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  ensureUser(email: string): Promise<UserRecord> {
    const existing = this.#db.prepare<[string], { id: string; email: string; created_at: string }>('SELECT * FROM users WHERE email = ?').get(email);
    if (existing) return Promise.resolve({ id: existing.id, email: existing.email, createdAt: existing.created_at });
    const user = { id: `usr_${randomUUID()}`, email, createdAt: this.#nowIso() };
    this.#db.prepare('INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)').run(user.id, user.email, user.createdAt);
    return Promise.resolve(user);
  }

  findUser(idOrEmail: string): Promise<UserRecord | undefined> {
    const row = this.#db.prepare<[string, string], { id: string; email: string; created_at: string }>('SELECT * FROM users WHERE id = ? OR email = ?').get(idOrEmail, idOrEmail);
    return Promise.resolve(row ? { id: row.id, email: row.email, createdAt: row.created_at } : undefined);
  }

  createVirtualKey(input: { id: string; userId: string; keyHash: string; prefix: string; name: string | null }): Promise<VirtualKeyRecord> {
    this.#db
      .prepare('INSERT INTO virtual_keys (id, user_id, key_hash, prefix, name, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(input.id, input.userId, input.keyHash, input.prefix, input.name, this.#nowIso());
    return Promise.resolve(this.#key(input.id)!);
  }

  #key(id: string): VirtualKeyRecord | undefined {
    const row = this.#db.prepare<[string], KeyRow>(`${KEY_SELECT} WHERE k.id = ?`).get(id);
    return row ? toKey(row) : undefined;
  }

  findVirtualKeyByHash(keyHash: string): Promise<VirtualKeyRecord | undefined> {
    const row = this.#db.prepare<[string], KeyRow>(`${KEY_SELECT} WHERE k.key_hash = ?`).get(keyHash);
    return Promise.resolve(row ? toKey(row) : undefined);
  }

  touchVirtualKey(id: string, at: string): Promise<void> {
    this.#db.prepare('UPDATE virtual_keys SET last_used_at = ? WHERE id = ?').run(at, id);
    return Promise.resolve();
  }

  listVirtualKeys(): Promise<VirtualKeyRecord[]> {
    return Promise.resolve(this.#db.prepare<[], KeyRow>(`${KEY_SELECT} ORDER BY k.created_at, k.id`).all().map(toKey));
  }

  revokeVirtualKey(id: string): Promise<VirtualKeyRecord | undefined> {
    this.#db.prepare('UPDATE virtual_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(this.#nowIso(), id);
    return Promise.resolve(this.#key(id));
  }
}
