import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { applyMigrations, SchemaTooNewError, Store, type MigrationSet } from '../../agent/src/store/index.ts';
import { createLogger } from '../../agent/src/lib/logger.ts';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'heimdall-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({ write: (c: Buffer, _e, cb) => void (chunks.push(c.toString()), cb()) });
  return { logger: createLogger({ destination }), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const notesV1: MigrationSet = {
  component: 'notes',
  migrations: [{ version: 1, name: 'notes table', up: (db) => db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT') }],
};
const notesV2: MigrationSet = {
  component: 'notes',
  migrations: [
    ...notesV1.migrations,
    { version: 2, name: 'notes author', up: (db) => db.exec("ALTER TABLE notes ADD COLUMN author TEXT NOT NULL DEFAULT 'unknown'") },
  ],
};

describe('store', () => {
  it('creates the database from empty in a 0700 directory with 0600 files, in WAL mode', () => {
    const stateDir = path.join(tempDir(), 'state');
    const store = new Store({ stateDir, logger: capture().logger, migrations: [notesV1] });
    store.setMeta('device_id', 'abc');
    expect(store.getMeta('device_id')).toBe('abc');
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.schemaVersions()).toEqual({ store: 1, notes: 1 });
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(stateDir)) expect({ f, mode: statSync(path.join(stateDir, f)).mode & 0o777 }).toEqual({ f, mode: 0o600 });
    store.close();
  });

  it('tightens a state directory that was left world-readable', () => {
    const stateDir = tempDir();
    chmodSync(stateDir, 0o755);
    new Store({ stateDir, logger: capture().logger }).close();
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
  });

  it('migrates up from a previous schema version and keeps the data', () => {
    const stateDir = tempDir();
    const first = new Store({ stateDir, logger: capture().logger, migrations: [notesV1] });
    first.db.prepare('INSERT INTO notes (body) VALUES (?)').run('kept');
    first.close();

    const { logger, lines } = capture();
    const second = new Store({ stateDir, logger, migrations: [notesV2] });
    expect(second.db.prepare('SELECT body, author FROM notes').all()).toEqual([{ body: 'kept', author: 'unknown' }]);
    expect(second.schemaVersions()).toEqual({ store: 1, notes: 2 });
    expect(lines().find((l) => l['msg'] === 'database migrated')?.['applied']).toEqual(['notes#2 notes author']);
    second.close();
  });

  it('rolls back every step of a failing migration run', () => {
    const dir = tempDir();
    const db = new BetterSqlite3(path.join(dir, 'x.db'));
    const broken: MigrationSet = {
      component: 'broken',
      migrations: [
        { version: 1, name: 'ok', up: (d) => d.exec('CREATE TABLE a (x INTEGER) STRICT') },
        { version: 2, name: 'fails', up: (d) => d.exec('CREATE TABLE a (x INTEGER) STRICT') },
      ],
    };
    expect(() => applyMigrations(db, [broken])).toThrow(/table a already exists/);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name IN ('a', 'schema_migrations')").all()).toEqual([{ name: 'schema_migrations' }]);
    db.close();
  });

  it('refuses a database written by a newer build instead of guessing', () => {
    const stateDir = tempDir();
    new Store({ stateDir, logger: capture().logger, migrations: [notesV2] }).close();
    expect(() => new Store({ stateDir, logger: capture().logger, migrations: [notesV1] })).toThrow(SchemaTooNewError);
    // The file was not moved aside: its data is fine, the build is old.
    expect(readdirSync(stateDir).filter((f) => f.includes('corrupt'))).toEqual([]);
  });

  it('rejects misnumbered migrations at start', () => {
    const db = new BetterSqlite3(':memory:');
    const bad: MigrationSet = { component: 'bad', migrations: [{ version: 2, name: 'x', up: () => undefined }] };
    expect(() => applyMigrations(db, [bad])).toThrow('migrations of "bad" must be numbered 1, 2, 3...: position 1 has version 2');
  });

  it('moves a corrupt database aside with a clear log line and starts a new one', () => {
    const stateDir = tempDir();
    writeFileSync(path.join(stateDir, 'heimdall.db'), Buffer.concat([Buffer.from('not a database at all '), Buffer.alloc(8192, 7)]));
    const { logger, lines } = capture();
    const store = new Store({ stateDir, logger, migrations: [notesV1] });
    expect(store.movedAside).toMatch(/heimdall\.db\.corrupt-/);
    expect(existsSync(store.movedAside!)).toBe(true);
    expect(store.schemaVersions()).toEqual({ store: 1, notes: 1 });
    const line = lines().find((l) => l['level'] === 'error');
    expect(line?.['msg']).toMatch(/local database is corrupt or unreadable; moved it aside/);
    expect(line?.['moved_to']).toBe(store.movedAside);
    store.close();
    // The next start opens the new file normally.
    const again = new Store({ stateDir, logger: capture().logger, migrations: [notesV1] });
    expect(again.movedAside).toBeUndefined();
    again.close();
  });

  it('recovers from a database whose pages were damaged after it was written', () => {
    const stateDir = tempDir();
    const store = new Store({ stateDir, logger: capture().logger, migrations: [notesV1] });
    const insert = store.db.prepare('INSERT INTO notes (body) VALUES (?)');
    for (let i = 0; i < 2000; i++) insert.run(`note ${i} ${'x'.repeat(100)}`);
    store.close();
    const file = path.join(stateDir, 'heimdall.db');
    const bytes = readFileSync(file);
    // Overwrite b-tree pages after the first with garbage, keeping the header page intact.
    bytes.fill(0xee, 4096, 4096 + 16384);
    writeFileSync(file, bytes);
    const reopened = new Store({ stateDir, logger: capture().logger, migrations: [notesV1] });
    expect(reopened.movedAside).toBeDefined();
    expect(reopened.db.prepare('SELECT COUNT(*) AS n FROM notes').get()).toEqual({ n: 0 });
    reopened.close();
  });
});

