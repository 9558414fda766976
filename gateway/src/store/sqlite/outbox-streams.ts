// Outbox streams: table `outbox_streams`, the highest seq stored per device and stream (what `ack`
// carries). Events and inventory reports both advance it, inside their own transactions.
import type { Database, Statement } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';

export function createOutboxStreamTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE outbox_streams (
    device_id TEXT NOT NULL REFERENCES devices(id),
    stream TEXT NOT NULL,
    high_seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (device_id, stream)
  ) STRICT`);
}

export class SqliteOutboxStreams {
  readonly #highSeq: Statement<[string, string], { high_seq: number }>;
  readonly #setHighSeq: Statement<[string, string, number, string]>;

  constructor(db: Database) {
    this.#highSeq = db.prepare('SELECT high_seq FROM outbox_streams WHERE device_id = ? AND stream = ?');
    this.#setHighSeq = db.prepare(
      `INSERT INTO outbox_streams (device_id, stream, high_seq, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (device_id, stream) DO UPDATE SET high_seq = MAX(high_seq, excluded.high_seq), updated_at = excluded.updated_at`,
    );
  }

  highSeqNow(deviceId: string, stream: string): number {
    return this.#highSeq.get(deviceId, stream)?.high_seq ?? 0;
  }

  /** Raises the stream's high seq to `seq` (never lowers it). */
  advanceNow(deviceId: string, stream: string, seq: number, at: string): void {
    this.#setHighSeq.run(deviceId, stream, seq, at);
  }
}
