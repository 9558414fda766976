// The sync room's tables: the outbox (events and inventory reports waiting for the gateway's ack)
// and a few facts about the channel (last applied policy version and when).
import type { MigrationSet } from '../store/index.ts';

export const SYNC_MIGRATIONS: MigrationSet = {
  component: 'sync',
  migrations: [
    {
      version: 1,
      name: 'outbox and sync state',
      up: (db) => {
        // AUTOINCREMENT, not a plain rowid: a seq is never handed out twice, even after every row was
        // acknowledged and deleted (the gateway dedupes by device + seq, so a reused seq would be lost).
        // kind: 'event' (audit events, summarised into a gap event when the outbox is full) or an
        // inventory kind (one row per kind at most: a newer report replaces an unsent older one).
        db.exec(`CREATE TABLE sync_outbox (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL,
          type TEXT NOT NULL,
          payload TEXT NOT NULL,
          bytes INTEGER NOT NULL,
          created_at TEXT NOT NULL
        ) STRICT`);
        db.exec('CREATE INDEX sync_outbox_kind ON sync_outbox (kind, seq)');
        db.exec(`CREATE TABLE sync_state (
          key TEXT PRIMARY KEY,
          value TEXT NOT NULL,
          updated_at TEXT NOT NULL
        ) STRICT`);
      },
    },
    {
      version: 2,
      name: 'outbox index on inventory rows only',
      up: (db) => {
        // Audit events are most of the outbox's writes (one per governed request, deleted again on
        // the gateway's ack) and need no index: the cap's compaction walks them in seq order, which
        // the primary key is. Only inventory rows are looked up by kind. Keeping events out of the
        // index took ~20% off the CPU of writing and deleting them (issue 22).
        db.exec('DROP INDEX sync_outbox_kind');
        db.exec("CREATE INDEX sync_outbox_reports ON sync_outbox (kind) WHERE kind <> 'event'");
      },
    },
  ],
};
