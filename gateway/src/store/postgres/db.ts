// The PostgreSQL connection: one pg Pool per store, typed row helpers, and `tx`, which runs a
// function on one pooled client between BEGIN and COMMIT (ROLLBACK on any error) so every change of
// an aggregate is one transaction, as it is on SQLite.
import pg from 'pg';
import { classifyStoreError } from '../errors.ts';

/** Runs `fn`, turning a lost or refused connection into a StoreUnavailableError. */
async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw classifyStoreError(err);
  }
}

/** What an aggregate's queries run on: the pool (one statement, its own transaction) or a transaction's client. */
export interface Queryable {
  rows<R>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  one<R>(sql: string, params?: readonly unknown[]): Promise<R | undefined>;
  /** Runs a statement; returns how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

// COUNT(*) and BIGINT columns come back as int8, SUM as numeric: pg hands both over as strings so no
// precision is lost past 2^53. Seqs, counts and event ids stay far below that; the store answers
// numbers like the SQLite one. Set per pool, not on pg's global parser table, so nothing else changes.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const defaultParser = pg.types.getTypeParser as (oid: number, format?: string) => unknown;
const types = {
  getTypeParser: ((oid: number, format?: string): unknown => {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return defaultParser(oid, format);
  }) as typeof pg.types.getTypeParser,
};

function queryable(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    rows: <R>(sql: string, params: readonly unknown[] = []) => guarded(async () => (await client.query(sql, params as unknown[])).rows as R[]),
    one: <R>(sql: string, params: readonly unknown[] = []) => guarded(async () => (await client.query(sql, params as unknown[])).rows[0] as R | undefined),
    run: (sql: string, params: readonly unknown[] = []) => guarded(async () => (await client.query(sql, params as unknown[])).rowCount ?? 0),
  };
}

export interface PgDatabaseOptions {
  /** A libpq connection URL without a password (PGPASSWORD, ~/.pgpass or `password` supply it). */
  url: string;
  password?: string | undefined;
  /** Pool size per replica. */
  max?: number | undefined;
  /** Called with errors of idle pooled clients (a restarted server): logged, never thrown. */
  onIdleError: (err: Error) => void;
}

export class PgDatabase implements Queryable {
  readonly pool: pg.Pool;
  readonly #pool: Queryable;

  constructor(options: PgDatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      ...(options.password !== undefined ? { password: options.password } : {}),
      max: options.max ?? 10,
      types,
      // A dead server fails a request in 10 s rather than hanging it.
      connectionTimeoutMillis: 10_000,
      application_name: 'heimdall-gateway',
    });
    // Without a listener an idle client's error (the server restarted) would crash the process.
    this.pool.on('error', options.onIdleError);
    this.#pool = queryable(this.pool);
  }

  /** A new client outside the pool's accounting, for a session that lives long (LISTEN). */
  clientConfig(): pg.ClientConfig {
    return { ...(this.pool.options as pg.ClientConfig), types };
  }

  rows<R>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#pool.rows<R>(sql, params);
  }

  one<R>(sql: string, params?: readonly unknown[]): Promise<R | undefined> {
    return this.#pool.one<R>(sql, params);
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.#pool.run(sql, params);
  }

  /** Runs `fn` in one transaction on one client; commits when it resolves, rolls back when it throws. */
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await guarded(() => this.pool.connect());
    let broken: Error | undefined;
    const lost = (err: Error): void => {
      broken = err;
    };
    // The pool listens for errors only on idle clients: a server lost while this one is checked out
    // would emit 'error' with no listener, an uncaught exception that ends the gateway.
    client.on('error', lost);
    try {
      await guarded(() => client.query('BEGIN'));
      const result = await fn(queryable(client));
      await guarded(() => client.query('COMMIT'));
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        // The connection itself failed: do not give it back to the pool.
        broken = rollbackErr as Error;
      }
      throw err;
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }

  /** Runs `fn` on one dedicated client (session-level state: advisory locks). */
  async session<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await guarded(() => this.pool.connect());
    let broken: Error | undefined;
    const lost = (err: Error): void => {
      broken = err;
    };
    client.on('error', lost);
    try {
      return await fn(client);
    } finally {
      client.removeListener('error', lost);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
