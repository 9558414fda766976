// The challenges' key and the challenges already used, shared by every replica (issue 21): a
// challenge fetched from one replica is answered on another, and is used once across all of them.
import { randomBytes } from 'node:crypto';
import type { ChallengeStore } from '../types.ts';
import type { PgDatabase } from './db.ts';

export const CHALLENGE_TABLES = [
  'CREATE TABLE used_challenges (challenge_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)',
  'CREATE INDEX used_challenges_expiry ON used_challenges (expires_at)',
];

export class PgChallengeStore implements ChallengeStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async challengeKey(): Promise<Buffer> {
    // Two statements, each with its own snapshot: replicas starting together both try the INSERT, the
    // primary key lets one win (the other waits for its commit, then does nothing), and both read the winner's key.
    await this.#db.run(`INSERT INTO gw_meta (key, value) VALUES ('challenge_key', $1) ON CONFLICT (key) DO NOTHING`, [randomBytes(32).toString('base64')]);
    const row = await this.#db.one<{ value: string }>(`SELECT value FROM gw_meta WHERE key = 'challenge_key'`);
    return Buffer.from(row!.value, 'base64');
  }

  async consumeChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean> {
    // The INSERT is the atomic step: of two replicas consuming the same challenge, one inserts the row, the other conflicts.
    await this.#db.run('DELETE FROM used_challenges WHERE expires_at <= $1', [now]);
    return (await this.#db.run('INSERT INTO used_challenges (challenge_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING', [challengeHash, expiresAt])) === 1;
  }
}
