// Policy settings and the policy version: tables `settings` (one JSON value per key, defaults for
// the rest) and `gw_meta` (the version every catalog or settings change bumps).
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { PolicySettings } from '../../../../protocol/index.ts';
import { DEFAULT_BUDGETS, DEFAULT_SETTINGS } from '../defaults.ts';
import type { DeviceBudgets, SettingsStore } from '../types.ts';

export { DEFAULT_BUDGETS, DEFAULT_SETTINGS } from '../defaults.ts';

/** The settings row holding the budgets (kept apart from the policy settings agents receive). */
const BUDGETS_KEY = 'gateway.budgets';

export function createMetaTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE gw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
}

export function createSettingsTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE settings (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, updated_at TEXT NOT NULL) STRICT`);
}

/**
 * Increments the policy version on `db`: called inside the transaction of the write that changes the
 * policy, so the change and its version commit together or not at all.
 */
export function bumpPolicyVersionIn(db: Database): number {
  const row = db
    .prepare<[], { value: string }>(
      `INSERT INTO gw_meta (key, value) VALUES ('policy_version', '2')
       ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value`,
    )
    .get()!;
  return Number(row.value);
}

/** The gw_meta key remembering a rotated-away admin token's hash. */
const retiredKey = (hash: string): string => `admin_token_retired.${hash}`;

export class SqliteSettingsStore implements SettingsStore {
  readonly #clock: Clock;
  readonly #db: Database;

  constructor(db: Database, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#db = db;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  getSettings(): Promise<PolicySettings> {
    const rows = this.#db.prepare<[], { key: string; value_json: string }>('SELECT key, value_json FROM settings').all();
    const stored = Object.fromEntries(rows.filter((r) => Object.hasOwn(DEFAULT_SETTINGS, r.key)).map((r) => [r.key, JSON.parse(r.value_json) as unknown]));
    return Promise.resolve({ ...DEFAULT_SETTINGS, ...stored });
  }

  getBudgets(): Promise<DeviceBudgets> {
    const row = this.#db.prepare<[string], { value_json: string }>('SELECT value_json FROM settings WHERE key = ?').get(BUDGETS_KEY);
    return Promise.resolve({ ...DEFAULT_BUDGETS, ...(row ? (JSON.parse(row.value_json) as Partial<DeviceBudgets>) : {}) });
  }

  saveBudgets(budgets: DeviceBudgets): Promise<void> {
    this.#db
      .prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at')
      .run(BUDGETS_KEY, JSON.stringify(budgets), this.#nowIso());
    return Promise.resolve();
  }

  saveSettings(settings: PolicySettings): Promise<number> {
    const now = this.#nowIso();
    const upsert = this.#db.prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at');
    return Promise.resolve(
      this.#db.transaction(() => {
        for (const [key, value] of Object.entries(settings)) upsert.run(key, JSON.stringify(value), now);
        return bumpPolicyVersionIn(this.#db);
      })(),
    );
  }

  adminTokenHash(): Promise<string | undefined> {
    return Promise.resolve(this.#db.prepare<[], { value: string }>(`SELECT value FROM gw_meta WHERE key = 'admin_token_hash'`).get()?.value);
  }

  setAdminTokenHash(hash: string): Promise<void> {
    this.#db.transaction(() => {
      const previous = this.#db.prepare<[], { value: string }>(`SELECT value FROM gw_meta WHERE key = 'admin_token_hash'`).get()?.value;
      if (previous !== undefined && previous !== hash) {
        this.#db.prepare('INSERT INTO gw_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(retiredKey(previous), this.#nowIso());
      }
      this.#db.prepare(`INSERT INTO gw_meta (key, value) VALUES ('admin_token_hash', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(hash);
    })();
    return Promise.resolve();
  }

  adminTokenRetired(hash: string): Promise<boolean> {
    return Promise.resolve(this.#db.prepare<[string], { value: string }>('SELECT value FROM gw_meta WHERE key = ?').get(retiredKey(hash)) !== undefined);
  }

  bumpPolicyVersion(): Promise<number> {
    return Promise.resolve(bumpPolicyVersionIn(this.#db));
  }

  policyVersion(): Promise<number> {
    const row = this.#db.prepare<[], { value: string }>(`SELECT value FROM gw_meta WHERE key = 'policy_version'`).get();
    return Promise.resolve(row ? Number(row.value) : 1);
  }
}
