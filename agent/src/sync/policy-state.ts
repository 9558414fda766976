// What the sync channel remembers about policy between restarts: the version of the last good
// snapshot (sent in `hello` and `resync`), a digest of it (an identical re-send is not re-applied),
// and when the gateway last confirmed it (for `heimdall status`). The snapshot itself belongs to the
// policy room, which stores it atomically when the sync client hands it over.
import { createHash } from 'node:crypto';
import type { Database } from '../store/index.ts';
import type { PolicySnapshot } from '../../../protocol/index.ts';

export interface KnownPolicy {
  version: number;
  digest: string;
  appliedAt: string;
  /** When the gateway last sent this version (applied, or re-sent unchanged on resync). */
  confirmedAt: string;
  fullResyncS: number;
}

const KEY = 'policy';

export function policyDigest(snapshot: PolicySnapshot): string {
  return createHash('sha256').update(JSON.stringify(snapshot)).digest('hex');
}

export class PolicyState {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  load(): KnownPolicy | undefined {
    const row = this.#db.prepare<[string], { value: string }>('SELECT value FROM sync_state WHERE key = ?').get(KEY);
    if (!row) return undefined;
    try {
      const v = JSON.parse(row.value) as Partial<KnownPolicy>;
      if (typeof v.version !== 'number' || typeof v.digest !== 'string' || typeof v.appliedAt !== 'string' || typeof v.confirmedAt !== 'string') return undefined;
      return { version: v.version, digest: v.digest, appliedAt: v.appliedAt, confirmedAt: v.confirmedAt, fullResyncS: typeof v.fullResyncS === 'number' ? v.fullResyncS : 0 };
    } catch {
      return undefined;
    }
  }

  save(known: KnownPolicy): void {
    this.#db
      .prepare('INSERT INTO sync_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
      .run(KEY, JSON.stringify(known), new Date().toISOString());
  }
}
