// The store room: local state in SQLite (WAL, 0600, migrations, corrupt-file recovery). Opening and
// migrating a database is shared with the gateway and lives in lib/.
export { Store, STORE_FILE_NAME, type StoreOptions } from './store.ts';
export { openDatabase, applyMigrations, schemaVersions, SchemaTooNewError, type OpenDatabaseOptions, type OpenedDatabase, type Migration, type MigrationSet, type AppliedMigration } from '../../../lib/index.ts';
export type { Database } from 'better-sqlite3';
