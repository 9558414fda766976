// Connected state: table `device_connections`, which replica holds each device's websocket and when
// it last beat. On SQLite the one process is the only replica; the table and the code path are the
// same as on PostgreSQL so "connected" means one thing in the admin API whatever the store.
import type { Database, Statement } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import type { ConnectionStore } from '../types.ts';

export function createConnectionTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE device_connections (
    device_id TEXT PRIMARY KEY REFERENCES devices(id),
    replica_id TEXT NOT NULL,
    connected_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
  ) STRICT`);
  db.exec('CREATE INDEX device_connections_replica ON device_connections (replica_id)');
  db.exec('CREATE INDEX device_connections_heartbeat ON device_connections (heartbeat_at)');
}

export class SqliteConnectionStore implements ConnectionStore {
  readonly #record: Statement<[string, string, string, string]>;
  readonly #replica: Statement<[string], { replica_id: string }>;
  /** (at, replicaId) */
  readonly #beat: Statement<[string, string]>;
  readonly #end: Statement<[string, string]>;
  readonly #endReplica: Statement<[string]>;
  readonly #fresh: Statement<[string], { device_id: string }>;

  constructor(db: Database) {
    this.#record = db.prepare(
      `INSERT INTO device_connections (device_id, replica_id, connected_at, heartbeat_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET replica_id = excluded.replica_id, connected_at = excluded.connected_at, heartbeat_at = excluded.heartbeat_at`,
    );
    this.#replica = db.prepare('SELECT replica_id FROM device_connections WHERE device_id = ?');
    this.#beat = db.prepare('UPDATE device_connections SET heartbeat_at = ? WHERE replica_id = ?');
    this.#end = db.prepare('DELETE FROM device_connections WHERE device_id = ? AND replica_id = ?');
    this.#endReplica = db.prepare('DELETE FROM device_connections WHERE replica_id = ?');
    this.#fresh = db.prepare('SELECT device_id FROM device_connections WHERE heartbeat_at >= ?');
  }

  recordConnection(deviceId: string, replicaId: string, at: string): Promise<void> {
    this.#record.run(deviceId, replicaId, at, at);
    return Promise.resolve();
  }

  connectionReplica(deviceId: string): Promise<string | undefined> {
    return Promise.resolve(this.#replica.get(deviceId)?.replica_id);
  }

  heartbeatConnections(replicaId: string, at: string): Promise<number> {
    return Promise.resolve(this.#beat.run(at, replicaId).changes);
  }

  endConnection(deviceId: string, replicaId: string): Promise<void> {
    this.#end.run(deviceId, replicaId);
    return Promise.resolve();
  }

  endReplicaConnections(replicaId: string): Promise<number> {
    return Promise.resolve(this.#endReplica.run(replicaId).changes);
  }

  connectedDeviceIds(freshSince: string): Promise<Set<string>> {
    return Promise.resolve(new Set(this.#fresh.all(freshSince).map((r) => r.device_id)));
  }
}
