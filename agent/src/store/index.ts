// The store room: local state in SQLite (WAL, 0600, migrations, corrupt-file recovery). Opening and
// migrating a database is shared with the gateway and lives in lib/.
export { Store, STORE_FILE_NAME, type StoreOptions } from './store.ts';
export {
  openDatabase, connectNodeSqlite, applyMigrations, schemaVersions, SchemaTooNewError, NodeSqliteDatabase,
  type OpenDatabaseOptions, type OpenedDatabase, type Migration, type MigrationSet, type AppliedMigration,
  type Database, type Statement, type Transaction, type RunResult,
} from '../../../lib/index.ts';
