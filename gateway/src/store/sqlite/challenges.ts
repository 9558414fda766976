// The challenges' key and the challenges already used. On SQLite one process owns the file, but the
// interface is the one replicas share on PostgreSQL: the key is generated once and kept in gw_meta,
// and consuming a challenge is one INSERT that only the first use wins.
import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import type { ChallengeStore } from '../types.ts';

export function createUsedChallengeTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE used_challenges (challenge_hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL) STRICT`);
  db.exec('CREATE INDEX used_challenges_expiry ON used_challenges (expires_at)');
}

export class SqliteChallengeStore implements ChallengeStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  challengeKey(): Promise<Buffer> {
    // INSERT OR IGNORE then read: whoever inserted first, everyone reads the same key.
    this.#db.prepare(`INSERT INTO gw_meta (key, value) VALUES ('challenge_key', ?) ON CONFLICT (key) DO NOTHING`).run(randomBytes(32).toString('base64'));
    const row = this.#db.prepare<[], { value: string }>(`SELECT value FROM gw_meta WHERE key = 'challenge_key'`).get()!;
    return Promise.resolve(Buffer.from(row.value, 'base64'));
  }

  consumeChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean> {
    return Promise.resolve(
      this.#db.transaction(() => {
        this.#db.prepare('DELETE FROM used_challenges WHERE expires_at <= ?').run(now);
        return this.#db.prepare('INSERT INTO used_challenges (challenge_hash, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING').run(challengeHash, expiresAt).changes === 1;
      })(),
    );
  }
}
