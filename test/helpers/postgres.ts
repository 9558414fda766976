// A real PostgreSQL 15 server from Debian for tests: initdb into a temp folder, pg_ctl start with
// its unix socket in that folder (no TCP listener, so nothing collides with another test or server)
// and stop afterwards. initdb and postgres refuse to run as root: as root the harness creates an
// unprivileged user with useradd, runs them as that user (setpriv) and removes it after.
// Absent binaries are an error, never a skip: .ci/run installs postgresql-15 (scripts/dev.sh).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export const PG_BIN = process.env['HEIMDALL_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

export interface TestPostgres {
  /** The socket folder (libpq's `host` for a unix socket). */
  socketDir: string;
  port: number;
  /** The superuser tests connect as (no password: trust on the socket, which only this folder's owner and root reach). */
  user: string;
  /** A `store_url` for database `name`. */
  url(name: string): string;
  /** Creates an empty database and returns its `store_url`. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL on database `name` as the superuser. */
  sql<R = Record<string, unknown>>(name: string, text: string, params?: unknown[]): Promise<R[]>;
  /** Kills the server as a crash or a lost machine would (`pg_ctl stop -m immediate`), keeping its data. */
  halt(): void;
  /** Starts a halted server again on the same socket and port, and waits until it answers. */
  resume(): Promise<void>;
  /** Stops the server and removes its folder and user. */
  stop(): Promise<void>;
}

function requireBinaries(bin: string): void {
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(path.join(bin, tool))) {
      throw new Error(
        `PostgreSQL 15 is not installed: ${path.join(bin, tool)} is missing. The PostgreSQL store tests need a real server: ` +
          'install it with `sudo apt-get install -y postgresql-15` (`npm run setup` does it as root), or point HEIMDALL_PG_BIN at its bin folder.',
      );
    }
  }
}

export interface TestPostgresOptions {
  /**
   * Keep PostgreSQL's durability on (fsync, synchronous commit, full-page writes), as production runs
   * it: benchmarks that compare it with SQLite's durable commits need it; tests leave it off for speed.
   */
  durable?: boolean;
}

export async function startTestPostgres(bin: string = PG_BIN, options: TestPostgresOptions = {}): Promise<TestPostgres> {
  requireBinaries(bin);
  const root = process.getuid?.() === 0;
  const osUser = root ? `hpg${process.pid}${Math.floor(Math.random() * 1e4)}` : undefined;
  let uid: number | undefined;
  let gid: number | undefined;
  if (osUser) {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', osUser]);
    uid = Number(execFileSync('id', ['-u', osUser], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', osUser], { encoding: 'utf8' }).trim());
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-pg-'));
  const dataDir = path.join(dir, 'data');
  const run = (tool: string, args: string[]): void => {
    const command = path.join(bin, tool);
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' };
    if (osUser) execFileSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', command, ...args], { env, stdio: 'pipe' });
    else execFileSync(command, args, { env, stdio: 'pipe' });
  };
  const cleanup = (): void => {
    rmSync(dir, { recursive: true, force: true });
    if (osUser) execFileSync('userdel', [osUser]);
  };
  const port = 5432;
  // Durability is not what the tests check: fsync off keeps CREATE DATABASE and commits fast on a shared CI machine.
  const durability = options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
  const serverOptions = `-k ${dir} -p ${port} -c listen_addresses='' -c max_connections=200${durability}`;
  const start = (): void => run('pg_ctl', ['-D', dataDir, '-l', path.join(dir, 'server.log'), '-o', serverOptions, '-w', '-t', '60', 'start']);
  try {
    if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
    run('initdb', ['-D', dataDir, '-U', 'heimdall', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
    start();
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    cleanup();
    throw new Error(`could not start the test PostgreSQL server: ${(err as Error).message} ${stderr}`, { cause: err });
  }
  const url = (name: string): string => `postgres://heimdall@localhost/${name}?host=${encodeURIComponent(dir)}&port=${port}`;
  const sql = async <R>(name: string, text: string, params: unknown[] = []): Promise<R[]> => {
    const client = new pg.Client({ connectionString: url(name) });
    await client.connect();
    try {
      return (await client.query(text, params)).rows as R[];
    } finally {
      await client.end();
    }
  };
  try {
    await sql('postgres', 'SELECT 1');
  } catch (err) {
    cleanup();
    throw new Error(`the test PostgreSQL server started but does not answer on ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return {
    socketDir: dir,
    port,
    user: 'heimdall',
    url,
    sql,
    async createDatabase(name: string): Promise<string> {
      await sql('postgres', `CREATE DATABASE ${name}`);
      return url(name);
    },
    halt(): void {
      run('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    },
    async resume(): Promise<void> {
      start();
      await sql('postgres', 'SELECT 1');
    },
    stop(): Promise<void> {
      try {
        run('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
      } finally {
        cleanup();
      }
      return Promise.resolve();
    },
  };
}
