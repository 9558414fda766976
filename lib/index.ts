// Code the agent and the gateway both use that is not part of the contract between them (that lives
// in protocol/): logging, private files, SQLite opening and migrations, the clock.
export { createLogger, silentLogger, LOG_LEVELS, type Logger, type LogLevel, type LoggerOptions } from './logger.ts';
export { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ensurePrivateDirSync, ensurePrivateDir, writeFileAtomic, isSymlink, type AtomicWriteOptions } from './private-fs.ts';
export { openDatabase, type OpenDatabaseOptions, type OpenedDatabase } from './open-database.ts';
export { applyMigrations, schemaVersions, SchemaTooNewError, type Migration, type MigrationSet, type AppliedMigration } from './migrations.ts';
export { systemClock, ManualClock, type Clock, type ClockTimer } from './clock.ts';
