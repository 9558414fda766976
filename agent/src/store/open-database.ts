// Opens a SQLite database in a private directory: WAL, 0600 files, migrations at start, and a corrupt
// or unreadable file moved aside and recreated once (never a crash loop on a broken file).
// The agent's Store connects with node:sqlite (nothing native to ship in the executables); the
// reference gateway, which is not shipped as an executable, keeps better-sqlite3, loaded only when a
// caller does not choose a connection.
import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';
import { chmodSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../lib/logger.ts';
import { ensurePrivateDirSync, PRIVATE_FILE_MODE } from '../lib/private-fs.ts';
import { applyMigrations, SchemaTooNewError, type AppliedMigration, type MigrationSet } from './migrations.ts';
import { NodeSqliteDatabase, type Database } from './sqlite.ts';

export interface OpenDatabaseOptions<D extends Database = BetterSqlite3.Database> {
  dir: string;
  fileName: string;
  migrations: readonly MigrationSet[];
  logger: Logger;
  /** Opens the file; better-sqlite3 when not given. */
  connect?: (file: string) => D;
}

export interface OpenedDatabase<D extends Database = BetterSqlite3.Database> {
  db: D;
  file: string;
  applied: AppliedMigration[];
  /** Where a broken file was moved, when one was. */
  movedAside?: string;
}

// SQLite's words for "this is not a database I can use"; anything else (disk full, permissions on the
// directory) is a real error that moving the file would not cure.
const BROKEN_FILE_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_CORRUPT_VTAB', 'SQLITE_CANTOPEN', 'SQLITE_IOERR_SHORT_READ']);

function isBrokenFileError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && (BROKEN_FILE_CODES.has(code) || code.startsWith('SQLITE_CORRUPT'));
}

const SIDE_FILES = ['', '-wal', '-shm'];

function restrictFiles(file: string): void {
  if (process.platform === 'win32') return;
  for (const suffix of SIDE_FILES) {
    if (existsSync(file + suffix)) chmodSync(file + suffix, PRIVATE_FILE_MODE);
  }
}

/** node:sqlite: what the agent's Store uses. */
export const connectNodeSqlite = (file: string): NodeSqliteDatabase => new NodeSqliteDatabase(file);

// Required on first use so the agent's bundle never loads (or needs) the native addon.
function connectBetterSqlite3(file: string): BetterSqlite3.Database {
  const Better = createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3;
  const db = new Better(file);
  cachePreparedStatements(db);
  return db;
}

/** Distinct SQL texts kept prepared; the gateway uses a few dozen fixed statements. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * Makes better-sqlite3's `db.prepare(sql)` return one compiled statement per SQL text instead of
 * compiling it on each call (node:sqlite's connection caches the same way, in sqlite.ts). A statement
 * is shared by every caller of the same SQL, so its modes are reset on each hand-out (a caller that
 * turns on pluck() or raw() does not leak that into the next caller).
 */
function cachePreparedStatements(db: BetterSqlite3.Database): void {
  const compile = db.prepare.bind(db) as (sql: string) => BetterSqlite3.Statement;
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = (sql: string): BetterSqlite3.Statement => {
    let statement = cache.get(sql);
    if (statement) {
      if (statement.reader) statement.raw(false).pluck(false).expand(false);
      return statement;
    }
    statement = compile(sql);
    if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(sql, statement);
    return statement;
  };
  db.prepare = prepare as BetterSqlite3.Database['prepare'];
}

function openAndMigrate<D extends Database>(file: string, migrations: readonly MigrationSet[], connect: (file: string) => D): { db: D; applied: AppliedMigration[] } {
  const db = connect(file);
  try {
    db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a killed process (kill -9) without losing a committed transaction.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') {
      throw Object.assign(new Error(`quick_check reported: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
    }
    const applied = applyMigrations(db, migrations);
    return { db, applied };
  } catch (err) {
    db.close();
    throw err;
  }
}

export function openDatabase<D extends Database = BetterSqlite3.Database>(options: OpenDatabaseOptions<D>): OpenedDatabase<D> {
  const { dir, fileName, migrations, logger } = options;
  const connect = options.connect ?? (connectBetterSqlite3 as unknown as (file: string) => D);
  ensurePrivateDirSync(dir);
  const file = path.join(dir, fileName);
  const previousUmask = process.platform === 'win32' ? undefined : process.umask(0o077);
  try {
    try {
      const { db, applied } = openAndMigrate(file, migrations, connect);
      restrictFiles(file);
      return { db, file, applied };
    } catch (err) {
      if (err instanceof SchemaTooNewError || !isBrokenFileError(err)) throw err;
      const movedAside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of SIDE_FILES) {
        if (existsSync(file + suffix)) renameSync(file + suffix, movedAside + suffix);
      }
      logger.error(
        { file, moved_to: movedAside, sqlite_code: (err as { code?: string }).code, reason: (err as Error).message },
        'local database is corrupt or unreadable; moved it aside and starting with a new one (cached policy and queued events in it are lost)',
      );
      const { db, applied } = openAndMigrate(file, migrations, connect);
      restrictFiles(file);
      return { db, file, applied, movedAside };
    }
  } finally {
    if (previousUmask !== undefined) process.umask(previousUmask);
  }
}
