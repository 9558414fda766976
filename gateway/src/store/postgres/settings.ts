// Policy settings and the policy version on PostgreSQL: tables `settings` (one JSON value per key,
// defaults for the rest) and `gw_meta` (the admin token's hash), and `policy_version`, one row
// holding the counter as a number.
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { PolicySettings } from '../../../../protocol/index.ts';
import { DEFAULT_BUDGETS, DEFAULT_SETTINGS } from '../defaults.ts';
import type { DeviceBudgets, SettingsStore } from '../types.ts';
import type { PgDatabase, Queryable } from './db.ts';

/** The settings row holding the budgets (kept apart from the policy settings agents receive). */
const BUDGETS_KEY = 'gateway.budgets';

export const SETTINGS_TABLES = [
  'CREATE TABLE gw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)',
  'CREATE TABLE settings (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, updated_at TEXT NOT NULL)',
  // One row (id = 1): the version agents' policy snapshots carry. Every replica bumps this same row
  // with one UPDATE, so concurrent changes on two replicas get two distinct versions, never one.
  `CREATE TABLE policy_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL CHECK (version >= 1)
  )`,
  'INSERT INTO policy_version (id, version) VALUES (1, 1)',
];

/** The channel replicas LISTEN on; the payload is the new version. */
export const POLICY_CHANNEL = 'heimdall_policy';

/**
 * Increments the policy version and notifies the other replicas, on `q`: called inside the
 * transaction of the write that changes the policy, so the change, its version and the notification
 * commit together (PostgreSQL delivers a NOTIFY at commit, never for a rolled-back transaction).
 */
export async function bumpPolicyVersionIn(q: Queryable): Promise<number> {
  const { version } = (await q.one<{ version: number }>('UPDATE policy_version SET version = version + 1 WHERE id = 1 RETURNING version'))!;
  await q.run('SELECT pg_notify($1, $2)', [POLICY_CHANNEL, String(version)]);
  return version;
}

/** The gw_meta key remembering a rotated-away admin token's hash. */
const retiredKey = (hash: string): string => `admin_token_retired.${hash}`;

export class PgSettingsStore implements SettingsStore {
  readonly #db: PgDatabase;
  readonly #clock: Clock;

  constructor(db: PgDatabase, clock: Clock = systemClock) {
    this.#db = db;
    this.#clock = clock;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  async getSettings(): Promise<PolicySettings> {
    const rows = await this.#db.rows<{ key: string; value_json: string }>('SELECT key, value_json FROM settings');
    const stored = Object.fromEntries(rows.filter((r) => Object.hasOwn(DEFAULT_SETTINGS, r.key)).map((r) => [r.key, JSON.parse(r.value_json) as unknown]));
    return { ...DEFAULT_SETTINGS, ...stored };
  }

  async getBudgets(): Promise<DeviceBudgets> {
    const row = await this.#db.one<{ value_json: string }>('SELECT value_json FROM settings WHERE key = $1', [BUDGETS_KEY]);
    return { ...DEFAULT_BUDGETS, ...(row ? (JSON.parse(row.value_json) as Partial<DeviceBudgets>) : {}) };
  }

  async saveBudgets(budgets: DeviceBudgets): Promise<void> {
    await this.#db.run(
      'INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at',
      [BUDGETS_KEY, JSON.stringify(budgets), this.#nowIso()],
    );
  }

  saveSettings(settings: PolicySettings): Promise<number> {
    const now = this.#nowIso();
    return this.#db.tx(async (q) => {
      for (const [key, value] of Object.entries(settings)) {
        await q.run(
          'INSERT INTO settings (key, value_json, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at',
          [key, JSON.stringify(value), now],
        );
      }
      return bumpPolicyVersionIn(q);
    });
  }

  async adminTokenHash(): Promise<string | undefined> {
    return (await this.#db.one<{ value: string }>(`SELECT value FROM gw_meta WHERE key = 'admin_token_hash'`))?.value;
  }

  async setAdminTokenHash(hash: string): Promise<void> {
    await this.#db.tx(async (q) => {
      // Locked: two replicas rotating at once each retire what they replaced.
      const previous = (await q.one<{ value: string }>(`SELECT value FROM gw_meta WHERE key = 'admin_token_hash' FOR UPDATE`))?.value;
      if (previous !== undefined && previous !== hash) {
        await q.run('INSERT INTO gw_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [retiredKey(previous), this.#nowIso()]);
      }
      await q.run(`INSERT INTO gw_meta (key, value) VALUES ('admin_token_hash', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [hash]);
    });
  }

  async adminTokenRetired(hash: string): Promise<boolean> {
    return (await this.#db.one('SELECT 1 FROM gw_meta WHERE key = $1', [retiredKey(hash)])) !== undefined;
  }

  bumpPolicyVersion(): Promise<number> {
    // The increment and the notification commit together: a replica that hears the version can read it.
    return this.#db.tx((q) => bumpPolicyVersionIn(q));
  }

  async policyVersion(): Promise<number> {
    return (await this.#db.one<{ version: number }>('SELECT version FROM policy_version WHERE id = 1'))?.version ?? 1;
  }
}
