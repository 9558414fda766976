// Code the agent and the gateway both use that is not part of the contract between them (that lives
// in protocol/): logging, private files, SQLite opening and migrations, the clock, X.509.
export { createLogger, silentLogger, LOG_LEVELS, type Logger, type LogLevel, type LoggerOptions } from './logger.ts';
export { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, ensurePrivateDirSync, ensurePrivateDir, writeFileAtomic, isSymlink, type AtomicWriteOptions } from './private-fs.ts';
export { openDatabase, connectNodeSqlite, type OpenDatabaseOptions, type OpenedDatabase } from './open-database.ts';
export { NodeSqliteDatabase, type Database, type SchemaDatabase, type Statement, type Transaction, type RunResult } from './sqlite.ts';
export { applyMigrations, schemaVersions, SchemaTooNewError, type Migration, type MigrationSet, type AppliedMigration } from './migrations.ts';
export { systemClock, ManualClock, type Clock, type ClockTimer } from './clock.ts';
export { VERSION } from './version.ts';
// X.509 for the interception CA, held by the agent (local mode) or the gateway (ca_mode gateway).
export {
  createNameConstrainedCa, createLeafCsr, signLeafFromCsr, generateRsaKeyPair, certificateFingerprintSha256, prepareCaAuthority, caPermits, issueLeaf,
  verifyCsr, samePublicKey, MAX_LEAF_VALIDITY_DAYS, DEFAULT_CA_VALIDITY_DAYS, DEFAULT_RSA_BITS,
  type CreateCaOptions, type PemKeyPair, type SignLeafFromCsrOptions, type SignedLeaf, type CaAuthority,
} from './x509/certificates.ts';
export { normaliseHost } from './x509/names.ts';
export { caConstraintProblem, describeCa, type CaDescription } from './x509/describe.ts';
export { CsrRejectedError, HostNotPermittedError, InvalidHostError, UnusableCaError } from './x509/errors.ts';
