// The gateway-held interception CA: table `ca`, one row (the database file is 0600 like the rest
// of the data dir).
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import type { CaRecord, CaStore } from '../types.ts';

export function createCaTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE ca (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('generated', 'uploaded')),
    created_at TEXT NOT NULL
  ) STRICT`);
}

export class SqliteCaStore implements CaStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  getCa(): Promise<CaRecord | undefined> {
    const row = this.#db.prepare<[], { cert_pem: string; key_pem: string; source: 'generated' | 'uploaded'; created_at: string }>('SELECT * FROM ca WHERE id = 1').get();
    return Promise.resolve(row ? { certPem: row.cert_pem, keyPem: row.key_pem, source: row.source, createdAt: row.created_at } : undefined);
  }

  saveCa(ca: CaRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO ca (id, cert_pem, key_pem, source, created_at) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, source = excluded.source, created_at = excluded.created_at`,
      )
      .run(ca.certPem, ca.keyPem, ca.source, ca.createdAt);
    return Promise.resolve();
  }
}
