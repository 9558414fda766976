// The agent's local state: one SQLite file in the state directory, shared by the rooms through
// their own tables (each room brings its MigrationSet), plus the store's own meta and config cache.
import type { Database } from './sqlite.ts';
import type { Logger } from '../lib/logger.ts';
import { CORE_MIGRATIONS } from './core-schema.ts';
import type { MigrationSet } from './migrations.ts';
import { schemaVersions } from './migrations.ts';
import { connectNodeSqlite, openDatabase } from './open-database.ts';

export const STORE_FILE_NAME = 'heimdall.db';

export interface StoreOptions {
  stateDir: string;
  logger: Logger;
  /** The other rooms' tables. */
  migrations?: readonly MigrationSet[];
}

export class Store {
  readonly db: Database;
  readonly file: string;
  /** Set when a broken database was moved aside at open. */
  readonly movedAside: string | undefined;
  #closed = false;

  constructor(options: StoreOptions) {
    const opened = openDatabase({
      dir: options.stateDir,
      fileName: STORE_FILE_NAME,
      migrations: [CORE_MIGRATIONS, ...(options.migrations ?? [])],
      logger: options.logger,
      connect: connectNodeSqlite,
    });
    this.db = opened.db;
    this.file = opened.file;
    this.movedAside = opened.movedAside;
    if (opened.applied.length > 0) {
      options.logger.info({ applied: opened.applied.map((m) => `${m.component}#${m.version} ${m.name}`) }, 'database migrated');
    }
  }

  getMeta(key: string): string | undefined {
    return this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db
      .prepare('INSERT INTO meta (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at')
      .run(key, value, new Date().toISOString());
  }

  /** The last good values stored for a configuration source, or undefined. */
  loadConfigSource(source: string): Record<string, unknown> | undefined {
    const row = this.db.prepare<[string], { values_json: string }>('SELECT values_json FROM config_cache WHERE source = ?').get(source);
    if (!row) return undefined;
    const parsed: unknown = JSON.parse(row.values_json);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  }

  saveConfigSource(source: string, values: Record<string, unknown>): void {
    this.db
      .prepare('INSERT INTO config_cache (source, values_json, updated_at) VALUES (?, ?, ?) ON CONFLICT(source) DO UPDATE SET values_json = excluded.values_json, updated_at = excluded.updated_at')
      .run(source, JSON.stringify(values), new Date().toISOString());
  }

  schemaVersions(): Record<string, number> {
    return schemaVersions(this.db);
  }

  /** Folds the WAL into the main file and closes; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
