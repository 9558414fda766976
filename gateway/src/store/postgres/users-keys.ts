// Users and their virtual keys on PostgreSQL: tables `users` and `virtual_keys` (only a hash of each
// key is kept). Emails are unique whatever their case, as SQLite's NOCASE column makes them.
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { UserKeyStore, UserRecord, VirtualKeyRecord } from '../types.ts';
import type { PgDatabase } from './db.ts';
import { KEY_SELECT, type KeyRow, toKey } from '../rows.ts';

export const USER_KEY_TABLES = [
  `CREATE TABLE users (
    id TEXT COLLATE "C" PRIMARY KEY,
    email TEXT COLLATE "C" NOT NULL,
    name TEXT,
    disabled_at TEXT,
    assigned_virtual_key TEXT,
    created_at TEXT NOT NULL
  )`,
  'CREATE UNIQUE INDEX users_email ON users (lower(email))',
  `CREATE TABLE virtual_keys (
    id TEXT COLLATE "C" PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_used_at TEXT
  )`,
];

interface UserRow {
  id: string;
  email: string;
  created_at: string;
}

const toUser = (r: UserRow): UserRecord => ({ id: r.id, email: r.email, createdAt: r.created_at });

export class PgUserKeyStore implements UserKeyStore {
  readonly #db: PgDatabase;
  readonly #clock: Clock;

  constructor(db: PgDatabase, clock: Clock = systemClock) {
    this.#db = db;
    this.#clock = clock;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  async ensureUser(email: string): Promise<UserRecord> {
    // Two replicas creating the same person at once: the unique email index keeps one, both answer it.
    await this.#db.run('INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [`usr_${randomUUID()}`, email, this.#nowIso()]);
    return toUser((await this.#db.one<UserRow>('SELECT id, email, created_at FROM users WHERE lower(email) = lower($1)', [email]))!);
  }

  async findUser(idOrEmail: string): Promise<UserRecord | undefined> {
    const row = await this.#db.one<UserRow>('SELECT id, email, created_at FROM users WHERE id = $1 OR lower(email) = lower($1) LIMIT 1', [idOrEmail]);
    return row ? toUser(row) : undefined;
  }

  async createVirtualKey(input: { id: string; userId: string; keyHash: string; prefix: string; name: string | null }): Promise<VirtualKeyRecord> {
    await this.#db.run('INSERT INTO virtual_keys (id, user_id, key_hash, prefix, name, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      input.id, input.userId, input.keyHash, input.prefix, input.name, this.#nowIso(),
    ]);
    return (await this.#key(input.id))!;
  }

  async #key(id: string): Promise<VirtualKeyRecord | undefined> {
    const row = await this.#db.one<KeyRow>(`${KEY_SELECT} WHERE k.id = $1`, [id]);
    return row ? toKey(row) : undefined;
  }

  async findVirtualKeyByHash(keyHash: string): Promise<VirtualKeyRecord | undefined> {
    const row = await this.#db.one<KeyRow>(`${KEY_SELECT} WHERE k.key_hash = $1`, [keyHash]);
    return row ? toKey(row) : undefined;
  }

  async touchVirtualKey(id: string, at: string): Promise<void> {
    await this.#db.run('UPDATE virtual_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
  }

  async listVirtualKeys(): Promise<VirtualKeyRecord[]> {
    return (await this.#db.rows<KeyRow>(`${KEY_SELECT} ORDER BY k.created_at, k.id`)).map(toKey);
  }

  async revokeVirtualKey(id: string): Promise<VirtualKeyRecord | undefined> {
    await this.#db.run('UPDATE virtual_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2', [this.#nowIso(), id]);
    return this.#key(id);
  }
}
