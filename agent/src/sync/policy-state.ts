// What the sync channel remembers about policy between restarts: which version the gateway last sent
// or re-confirmed, when (for `heimdall status`), and its resync period. The snapshot itself, and the
// version in force, belong to the policy room. Rows written by older builds (which also kept a
// digest and an applied time) load as they are.
import type { Database } from '../store/index.ts';

export interface KnownPolicy {
  version: number;
  /** When the gateway last sent this version (applied, or re-sent unchanged on resync), ISO 8601. */
  confirmedAt: string;
  fullResyncS: number;
}

const KEY = 'policy';

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
      if (typeof v.version !== 'number' || typeof v.confirmedAt !== 'string') return undefined;
      return { version: v.version, confirmedAt: v.confirmedAt, fullResyncS: typeof v.fullResyncS === 'number' ? v.fullResyncS : 0 };
    } catch {
      return undefined;
    }
  }

  save(known: KnownPolicy, now: string): void {
    this.#db
      .prepare('INSERT INTO sync_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
      .run(KEY, JSON.stringify(known), now);
  }
}
