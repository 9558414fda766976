// Console sessions in the database (issue 21): a console behind a balancer that is not sticky keeps
// its session on every replica. Keyed by the hash of the cookie's id, never the id itself; `used_seq`
// orders sessions by last use (a clock's millisecond can hold several) for the least-recently-used limit.
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import { toConsoleSession, type ConsoleSessionRow } from '../rows.ts';
import type { ConsoleSessionRecord, ConsoleSessionStore } from '../types.ts';

export function createConsoleSessionTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    method TEXT NOT NULL CHECK (method IN ('admin_token', 'sso')),
    user_id TEXT,
    admin_json TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    used_seq INTEGER NOT NULL,
    flash_json TEXT
  ) STRICT`);
  db.exec('CREATE INDEX console_sessions_used ON console_sessions (used_seq)');
}

const NEXT_SEQ = '(SELECT COALESCE(MAX(used_seq), 0) + 1 FROM console_sessions)';

export class SqliteConsoleSessionStore implements ConsoleSessionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  createConsoleSession(s: ConsoleSessionRecord, max: number): Promise<void> {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO console_sessions (id_hash, method, user_id, admin_json, csrf_token, created_at, last_seen_at, used_seq, flash_json)
           VALUES (?, ?, ?, ?, ?, ?, ?, ${NEXT_SEQ}, ?)`,
        )
        .run(s.idHash, s.method, s.userId, s.adminJson, s.csrfToken, s.createdAt, s.lastSeenAt, s.flashJson);
      this.#db.prepare('DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM console_sessions ORDER BY used_seq DESC LIMIT -1 OFFSET ?)').run(max);
    })();
    return Promise.resolve();
  }

  useConsoleSession(idHash: string, at: { now: number; idleBefore: number; createdBefore: number }, takeFlash: boolean): Promise<ConsoleSessionRecord | undefined> {
    return Promise.resolve(
      this.#db.transaction((): ConsoleSessionRecord | undefined => {
        this.#db.prepare('DELETE FROM console_sessions WHERE last_seen_at <= ? OR created_at <= ?').run(at.idleBefore, at.createdBefore);
        const row = this.#db.prepare<[string], ConsoleSessionRow>('SELECT * FROM console_sessions WHERE id_hash = ?').get(idHash);
        if (!row) return undefined;
        this.#db
          .prepare(`UPDATE console_sessions SET last_seen_at = ?, used_seq = ${NEXT_SEQ}, flash_json = CASE WHEN ? THEN NULL ELSE flash_json END WHERE id_hash = ?`)
          .run(at.now, takeFlash ? 1 : 0, idHash);
        return { ...toConsoleSession(row), lastSeenAt: at.now };
      })(),
    );
  }

  setConsoleFlash(idHash: string, flashJson: string | null): Promise<void> {
    this.#db.prepare('UPDATE console_sessions SET flash_json = ? WHERE id_hash = ?').run(flashJson, idHash);
    return Promise.resolve();
  }

  endConsoleSessions(where: { idHash: string } | { method: 'admin_token' | 'sso' } | { userId: string }): Promise<number> {
    const [column, value] = 'idHash' in where ? ['id_hash', where.idHash] : 'method' in where ? ['method', where.method] : ['user_id', where.userId];
    return Promise.resolve(this.#db.prepare(`DELETE FROM console_sessions WHERE ${column} = ?`).run(value).changes);
  }

  countConsoleSessions(): Promise<number> {
    return Promise.resolve(this.#db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM console_sessions').get()!.n);
  }
}
