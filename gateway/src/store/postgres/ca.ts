// The gateway-held interception CA on PostgreSQL: table `ca`, one row. Whoever can read the
// database can read the CA key, as with the SQLite file: docs/gateway.md says who should.
import type { CaRecord, CaStore } from '../types.ts';
import type { PgDatabase } from './db.ts';

export const CA_TABLES = [
  `CREATE TABLE ca (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('generated', 'uploaded')),
    created_at TEXT NOT NULL
  )`,
];

export class PgCaStore implements CaStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  async getCa(): Promise<CaRecord | undefined> {
    const row = await this.#db.one<{ cert_pem: string; key_pem: string; source: 'generated' | 'uploaded'; created_at: string }>('SELECT * FROM ca WHERE id = 1');
    return row ? { certPem: row.cert_pem, keyPem: row.key_pem, source: row.source, createdAt: row.created_at } : undefined;
  }

  async saveCa(ca: CaRecord): Promise<void> {
    await this.#db.run(
      `INSERT INTO ca (id, cert_pem, key_pem, source, created_at) VALUES (1, $1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, source = excluded.source, created_at = excluded.created_at`,
      [ca.certPem, ca.keyPem, ca.source, ca.createdAt],
    );
  }
}
