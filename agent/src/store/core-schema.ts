// The store's own tables: facts about this installation (meta) and the last good value of every
// configuration source, so a broken managed file at boot still runs on what last worked.
import type { MigrationSet } from '../../../lib/index.ts';

export const CORE_MIGRATIONS: MigrationSet = {
  component: 'store',
  migrations: [
    {
      version: 1,
      name: 'meta and config cache',
      up: (db) => {
        db.exec(`CREATE TABLE meta (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL,
          updated_at TEXT NOT NULL
        ) STRICT`);
        db.exec(`CREATE TABLE config_cache (
          source TEXT PRIMARY KEY,
          values_json TEXT NOT NULL,
          updated_at TEXT NOT NULL
        ) STRICT`);
      },
    },
  ],
};
