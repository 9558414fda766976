// Console sessions shared by the replicas (issue 21): a console behind a balancer that is not sticky
// keeps its session. Keyed by the hash of the cookie's id, never the id; `used_seq` (a sequence)
// orders sessions by last use for the least-recently-used limit.
import { toConsoleSession, type ConsoleSessionRow } from '../rows.ts';
import type { ConsoleSessionRecord, ConsoleSessionStore } from '../types.ts';
import type { PgDatabase } from './db.ts';

export const CONSOLE_SESSION_TABLES = [
  'CREATE SEQUENCE console_session_use',
  `CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    method TEXT NOT NULL CHECK (method IN ('admin_token', 'sso')),
    user_id TEXT,
    admin_json TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    used_seq BIGINT NOT NULL DEFAULT nextval('console_session_use'),
    flash_json TEXT
  )`,
  'CREATE INDEX console_sessions_used ON console_sessions (used_seq)',
];

export class PgConsoleSessionStore implements ConsoleSessionStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async createConsoleSession(s: ConsoleSessionRecord, max: number): Promise<void> {
    await this.#db.tx(async (q) => {
      await q.run(
        `INSERT INTO console_sessions (id_hash, method, user_id, admin_json, csrf_token, created_at, last_seen_at, flash_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [s.idHash, s.method, s.userId, s.adminJson, s.csrfToken, s.createdAt, s.lastSeenAt, s.flashJson],
      );
      await q.run('DELETE FROM console_sessions WHERE id_hash IN (SELECT id_hash FROM console_sessions ORDER BY used_seq DESC OFFSET $1)', [max]);
    });
  }

  useConsoleSession(idHash: string, at: { now: number; idleBefore: number; createdBefore: number }, takeFlash: boolean): Promise<ConsoleSessionRecord | undefined> {
    return this.#db.tx(async (q) => {
      await q.run('DELETE FROM console_sessions WHERE last_seen_at <= $1 OR created_at <= $2', [at.idleBefore, at.createdBefore]);
      const row = await q.one<ConsoleSessionRow>('SELECT * FROM console_sessions WHERE id_hash = $1 FOR UPDATE', [idHash]);
      if (!row) return undefined;
      await q.run(
        `UPDATE console_sessions SET last_seen_at = $1, used_seq = nextval('console_session_use'), flash_json = CASE WHEN $2 THEN NULL ELSE flash_json END WHERE id_hash = $3`,
        [at.now, takeFlash, idHash],
      );
      return { ...toConsoleSession(row), lastSeenAt: at.now };
    });
  }

  async setConsoleFlash(idHash: string, flashJson: string | null): Promise<void> {
    await this.#db.run('UPDATE console_sessions SET flash_json = $1 WHERE id_hash = $2', [flashJson, idHash]);
  }

  endConsoleSessions(where: { idHash: string } | { method: 'admin_token' | 'sso' } | { userId: string }): Promise<number> {
    const [column, value] = 'idHash' in where ? ['id_hash', where.idHash] : 'method' in where ? ['method', where.method] : ['user_id', where.userId];
    return this.#db.run(`DELETE FROM console_sessions WHERE ${column} = $1`, [value]);
  }

  async countConsoleSessions(): Promise<number> {
    return (await this.#db.one<{ n: number }>('SELECT COUNT(*) AS n FROM console_sessions'))!.n;
  }
}
