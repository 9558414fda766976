// The store room: local state in SQLite (WAL, 0600, migrations, corrupt-file recovery).
export { Store, STORE_FILE_NAME, type StoreOptions } from './store.ts';
export { openDatabase, connectNodeSqlite, type OpenDatabaseOptions, type OpenedDatabase } from './open-database.ts';
export { applyMigrations, schemaVersions, SchemaTooNewError, type Migration, type MigrationSet, type AppliedMigration } from './migrations.ts';
export { NodeSqliteDatabase, type Database, type Statement, type Transaction, type RunResult } from './sqlite.ts';
