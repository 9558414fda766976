// The agent's SQLite connection: Node's built-in node:sqlite behind the small part of better-sqlite3's
// API the rooms use (prepare/run/get/all/iterate, exec, pragma, transaction), so the shipped
// executable needs no native addon (docs/architecture.md, "SQLite in the executables").
// better-sqlite3's own Database satisfies the same interface, so code written against it keeps working.
import type * as NodeSqlite from 'node:sqlite';
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

/** What `run()` reports: rows changed and the last inserted rowid. */
export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/** A prepared statement. `B` is the tuple of its parameters (positional values, or one object of named ones). */
export interface Statement<B extends unknown[] = unknown[], R = unknown> {
  run(...params: B): RunResult;
  get(...params: B): R | undefined;
  all(...params: B): R[];
  iterate(...params: B): IterableIterator<R>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the shape better-sqlite3 declares, so its Database fits this interface
type TransactionFunction = (...args: any[]) => unknown;
type ArgumentTypes<F extends TransactionFunction> = F extends (...args: infer A) => unknown ? A : never;

/** `db.transaction(fn)`: call it to run `fn` in BEGIN (DEFERRED) ... COMMIT, or pick the mode. */
export interface Transaction<F extends TransactionFunction> {
  (...args: ArgumentTypes<F>): ReturnType<F>;
  deferred(...args: ArgumentTypes<F>): ReturnType<F>;
  immediate(...args: ArgumentTypes<F>): ReturnType<F>;
  exclusive(...args: ArgumentTypes<F>): ReturnType<F>;
}

/** The connection the rooms use; node:sqlite's here, and better-sqlite3's (the gateway's) fits it too. */
export interface Database {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- better-sqlite3's own bound, so its Database fits
  prepare<B extends unknown[] | {} = unknown[], R = unknown>(sql: string): B extends unknown[] ? Statement<B, R> : Statement<[B], R>;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  transaction<F extends TransactionFunction>(fn: F): Transaction<F>;
  readonly inTransaction: boolean;
  close(): unknown;
}

// SQLite's result codes by number, so a caller branches on `err.code === 'SQLITE_CORRUPT'` exactly as
// with better-sqlite3 (node:sqlite says ERR_SQLITE_ERROR and puts the number in `errcode`).
const PRIMARY_CODES: Readonly<Record<number, string>> = {
  1: 'SQLITE_ERROR', 2: 'SQLITE_INTERNAL', 3: 'SQLITE_PERM', 4: 'SQLITE_ABORT', 5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED',
  7: 'SQLITE_NOMEM', 8: 'SQLITE_READONLY', 9: 'SQLITE_INTERRUPT', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT',
  12: 'SQLITE_NOTFOUND', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 15: 'SQLITE_PROTOCOL', 16: 'SQLITE_EMPTY',
  17: 'SQLITE_SCHEMA', 18: 'SQLITE_TOOBIG', 19: 'SQLITE_CONSTRAINT', 20: 'SQLITE_MISMATCH', 21: 'SQLITE_MISUSE',
  22: 'SQLITE_NOLFS', 23: 'SQLITE_AUTH', 24: 'SQLITE_FORMAT', 25: 'SQLITE_RANGE', 26: 'SQLITE_NOTADB',
};
const EXTENDED_CODES: Readonly<Record<number, string>> = {
  267: 'SQLITE_CORRUPT_VTAB', 522: 'SQLITE_IOERR_SHORT_READ', 1555: 'SQLITE_CONSTRAINT_PRIMARYKEY',
  2067: 'SQLITE_CONSTRAINT_UNIQUE', 787: 'SQLITE_CONSTRAINT_FOREIGNKEY', 1299: 'SQLITE_CONSTRAINT_NOTNULL',
  275: 'SQLITE_CONSTRAINT_CHECK', 517: 'SQLITE_BUSY_SNAPSHOT',
};

function withSqliteCode(err: unknown): unknown {
  const e = err as { code?: unknown; errcode?: unknown };
  if (e?.code === 'ERR_SQLITE_ERROR' && typeof e.errcode === 'number') {
    e.code = EXTENDED_CODES[e.errcode] ?? PRIMARY_CODES[e.errcode & 0xff] ?? `SQLITE_${e.errcode}`;
  }
  return err;
}

// node:sqlite hands back rows with a null prototype and BLOBs as Uint8Array; the rooms (and
// better-sqlite3) expect plain objects and Buffers.
function plainRow(row: unknown): unknown {
  if (row === undefined || row === null) return row;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row as Record<string, unknown>)) {
    out[k] = v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
  }
  return out;
}


class NodeStatement<B extends unknown[], R> implements Statement<B, R> {
  readonly #statement: StatementSync;
  constructor(statement: StatementSync) {
    this.#statement = statement;
  }
  #call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw withSqliteCode(err);
    }
  }
  run(...params: B): RunResult {
    // Without readBigInts node:sqlite counts changes in a number, as better-sqlite3 does.
    return this.#call(() => this.#statement.run(...(params as SQLInputValue[])) as RunResult);
  }
  get(...params: B): R | undefined {
    return this.#call(() => plainRow(this.#statement.get(...(params as SQLInputValue[]))) as R | undefined);
  }
  all(...params: B): R[] {
    return this.#call(() => this.#statement.all(...(params as SQLInputValue[])).map((r) => plainRow(r) as R));
  }
  *iterate(...params: B): IterableIterator<R> {
    const rows = this.#call(() => this.#statement.iterate(...(params as SQLInputValue[])));
    for (const row of rows) yield plainRow(row) as R;
  }
}

type SqliteModule = typeof NodeSqlite;
let sqliteModule: SqliteModule | undefined;

/**
 * node:sqlite, loaded once. Node 22 marks it experimental (stability 1.1, "active development") and
 * prints a warning on load; that one line would land on the stderr of every `heimdall` command, so
 * it alone is kept quiet. Every other warning passes through.
 */
function loadSqlite(): SqliteModule {
  if (sqliteModule) return sqliteModule;
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back untouched below
  const original = process.emitWarning;
  process.emitWarning = (warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).startsWith('SQLite is an experimental feature')) return;
    emitWarning(warning, ...rest);
  };
  try {
    sqliteModule = process.getBuiltinModule('node:sqlite');
  } finally {
    process.emitWarning = original;
  }
  return sqliteModule;
}

/** Statements kept compiled per SQL text; the rooms use a few dozen fixed statements. */
const STATEMENT_CACHE_SIZE = 256;

/**
 * A SQLite database file (or ':memory:') opened with node:sqlite. `prepare(sql)` returns one compiled
 * statement per SQL text instead of compiling it on each call: the rooms call prepare() inline on hot
 * paths (every proxied request reads the signed-in users and writes audit rows), and compiling was the
 * daemon's largest single cost per request (15% of its CPU under load).
 */
export class NodeSqliteDatabase implements Database {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, NodeStatement<unknown[], unknown>>();
  #savepoints = 0;

  constructor(file: string) {
    const { DatabaseSync } = loadSqlite();
    try {
      this.#db = new DatabaseSync(file);
    } catch (err) {
      throw withSqliteCode(err);
    }
  }

  get inTransaction(): boolean {
    return this.#db.isTransaction;
  }

  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- see Database.prepare
  prepare<B extends unknown[] | {} = unknown[], R = unknown>(sql: string): B extends unknown[] ? Statement<B, R> : Statement<[B], R> {
    let statement = this.#statements.get(sql);
    if (!statement) {
      try {
        statement = new NodeStatement(this.#db.prepare(sql));
      } catch (err) {
        throw withSqliteCode(err);
      }
      if (this.#statements.size >= STATEMENT_CACHE_SIZE) this.#statements.delete(this.#statements.keys().next().value!);
      this.#statements.set(sql, statement);
    }
    return statement as unknown as B extends unknown[] ? Statement<B, R> : Statement<[B], R>;
  }

  exec(sql: string): this {
    try {
      this.#db.exec(sql);
    } catch (err) {
      throw withSqliteCode(err);
    }
    return this;
  }

  /** `pragma('journal_mode = WAL')` as better-sqlite3 has it: every row, or the first value with `simple`. */
  pragma(source: string, options: { simple?: boolean } = {}): unknown {
    const rows = this.prepare<[], Record<string, unknown>>(`PRAGMA ${source}`).all();
    return options.simple ? Object.values(rows[0] ?? {})[0] : rows;
  }

  /**
   * Wraps `fn` in a transaction as better-sqlite3 does: COMMIT when it returns, ROLLBACK when it
   * throws, and a SAVEPOINT when called inside another transaction so the inner one can fail alone.
   */
  transaction<F extends TransactionFunction>(fn: F): Transaction<F> {
    const runIn = (begin: string) => (...args: ArgumentTypes<F>): ReturnType<F> => {
      const nested = this.inTransaction;
      const name = `heimdall_sp_${++this.#savepoints}`;
      this.exec(nested ? `SAVEPOINT ${name}` : begin);
      try {
        const result = fn(...args) as ReturnType<F>;
        if (result instanceof Promise) throw new TypeError('a transaction function must not be async: SQLite commits before the promise settles');
        this.exec(nested ? `RELEASE ${name}` : 'COMMIT');
        return result;
      } catch (err) {
        if (nested) this.exec(`ROLLBACK TO ${name}; RELEASE ${name}`);
        else if (this.inTransaction) this.exec('ROLLBACK');
        throw err;
      } finally {
        this.#savepoints -= 1;
      }
    };
    const tx = runIn('BEGIN DEFERRED') as Transaction<F>;
    tx.deferred = runIn('BEGIN DEFERRED');
    tx.immediate = runIn('BEGIN IMMEDIATE');
    tx.exclusive = runIn('BEGIN EXCLUSIVE');
    return tx;
  }

  close(): this {
    this.#statements.clear();
    if (this.#db.isOpen) this.#db.close();
    return this;
  }
}
