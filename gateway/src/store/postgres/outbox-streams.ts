// Outbox streams on PostgreSQL: table `outbox_streams`, the highest seq stored per device and stream
// (what `ack` carries). Events and inventory reports lock the stream, read it and advance it inside
// their own transaction, so two replicas handed the same message store it once.
import type { Queryable } from './db.ts';

export const OUTBOX_STREAM_TABLES = [
  `CREATE TABLE outbox_streams (
    device_id TEXT NOT NULL REFERENCES devices(id),
    stream TEXT NOT NULL,
    high_seq BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (device_id, stream)
  )`,
];

/** Advisory-lock class of outbox streams (`HO`): the second key is the stream's hash. */
const STREAM_LOCK_CLASS = 0x484f;

export class PgOutboxStreams {
  /**
   * Serialises writers of one device's stream until the transaction ends: the second replica waits,
   * then reads the high seq the first one committed. A lock, not a row, so no row appears for
   * messages that store nothing.
   */
  async lockIn(q: Queryable, deviceId: string, stream: string): Promise<void> {
    await q.run('SELECT pg_advisory_xact_lock($1, hashtext($2))', [STREAM_LOCK_CLASS, `${deviceId}/${stream}`]);
  }

  async highSeqIn(q: Queryable, deviceId: string, stream: string): Promise<number> {
    return (await q.one<{ high_seq: number }>('SELECT high_seq FROM outbox_streams WHERE device_id = $1 AND stream = $2', [deviceId, stream]))?.high_seq ?? 0;
  }

  /** Raises the stream's high seq to `seq` (never lowers it). */
  async advanceIn(q: Queryable, deviceId: string, stream: string, seq: number, at: string): Promise<void> {
    await q.run(
      `INSERT INTO outbox_streams (device_id, stream, high_seq, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (device_id, stream) DO UPDATE SET high_seq = GREATEST(outbox_streams.high_seq, excluded.high_seq), updated_at = excluded.updated_at`,
      [deviceId, stream, seq, at],
    );
  }
}
