// The node:sqlite connection behind the store: the parts of better-sqlite3's behaviour the rooms rely on.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeSqliteDatabase } from '../../agent/src/store/index.ts';

const dirs: string[] = [];
function tempFile(name: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-sqlite-'));
  dirs.push(dir);
  return path.join(dir, name);
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function notes(): NodeSqliteDatabase {
  const db = new NodeSqliteDatabase(':memory:');
  db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE, blob BLOB)');
  return db;
}

describe('node:sqlite connection', () => {
  it('returns plain rows with BLOBs as Buffers', () => {
    const db = notes();
    const info = db.prepare('INSERT INTO notes (body, blob) VALUES (?, ?)').run('a', Buffer.from('bytes'));
    expect(info).toEqual({ changes: 1, lastInsertRowid: 1 });
    const row = db.prepare<[string], { body: string; blob: Buffer }>('SELECT body, blob FROM notes WHERE body = ?').get('a')!;
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(Buffer.isBuffer(row.blob)).toBe(true);
    expect(row.blob.toString('utf8')).toBe('bytes');
    expect(db.prepare('SELECT body FROM notes WHERE body = ?').get('missing')).toBeUndefined();
    expect([...db.prepare('SELECT body FROM notes').iterate()]).toEqual([{ body: 'a' }]);
  });

  it('binds named parameters from an object', () => {
    const db = notes();
    db.prepare<[{ body: string }]>('INSERT INTO notes (body) VALUES (@body)').run({ body: 'named' });
    expect(db.prepare('SELECT body FROM notes').all()).toEqual([{ body: 'named' }]);
  });

  it('hands out one compiled statement per SQL text', () => {
    const db = notes();
    expect(db.prepare('SELECT 1')).toBe(db.prepare('SELECT 1'));
  });

  it('commits a transaction that returns and rolls back one that throws', () => {
    const db = notes();
    const insert = db.transaction((body: string) => db.prepare('INSERT INTO notes (body) VALUES (?)').run(body).changes);
    expect(insert('kept')).toBe(1);
    const failing = db.transaction(() => {
      db.prepare('INSERT INTO notes (body) VALUES (?)').run('lost');
      throw new Error('midway');
    });
    expect(() => failing.immediate()).toThrow('midway');
    expect(db.inTransaction).toBe(false);
    expect(db.prepare('SELECT body FROM notes').all()).toEqual([{ body: 'kept' }]);
  });

  it('rolls back only the inner part of a nested transaction that fails', () => {
    const db = notes();
    const inner = db.transaction(() => {
      db.prepare('INSERT INTO notes (body) VALUES (?)').run('inner');
      throw new Error('inner failed');
    });
    db.transaction(() => {
      db.prepare('INSERT INTO notes (body) VALUES (?)').run('outer');
      expect(() => inner()).toThrow('inner failed');
    })();
    expect(db.prepare('SELECT body FROM notes').all()).toEqual([{ body: 'outer' }]);
  });

  it('names SQLite errors by their SQLite code, as better-sqlite3 does', () => {
    const db = notes();
    db.prepare('INSERT INTO notes (body) VALUES (?)').run('one');
    expect(() => db.prepare('INSERT INTO notes (body) VALUES (?)').run('one')).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_UNIQUE' }));
    const notADatabase = tempFile('x.db');
    writeFileSync(notADatabase, Buffer.alloc(4096, 7));
    expect(() => new NodeSqliteDatabase(notADatabase).pragma('quick_check')).toThrow(expect.objectContaining({ code: 'SQLITE_NOTADB' }));
  });

  it('reads a pragma as rows or as one simple value', () => {
    const db = new NodeSqliteDatabase(tempFile('p.db'));
    expect(db.pragma('journal_mode = WAL', { simple: true })).toBe('wal');
    expect(db.pragma('journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    db.close();
  });
});
