// Connected state on PostgreSQL: table `device_connections`, which replica holds each device's
// websocket and when it last beat. Recording a connection tells the other replicas in the same
// transaction (NOTIFY `heimdall_control`, a `superseded` message), so a replica still holding an
// older socket of the device closes it; `publish` sends the other cross-replica messages.
import type { ConnectionStore, ReplicaMessage } from '../types.ts';
import type { PgDatabase } from './db.ts';

/** The channel of cross-replica control messages (JSON payloads, ReplicaMessage). */
export const CONTROL_CHANNEL = 'heimdall_control';

export const CONNECTION_TABLES = [
  `CREATE TABLE device_connections (
    device_id TEXT COLLATE "C" PRIMARY KEY REFERENCES devices(id),
    replica_id TEXT NOT NULL,
    connected_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
  )`,
  'CREATE INDEX device_connections_replica ON device_connections (replica_id)',
  'CREATE INDEX device_connections_heartbeat ON device_connections (heartbeat_at)',
];

export class PgConnectionStore implements ConnectionStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  recordConnection(deviceId: string, replicaId: string, at: string): Promise<void> {
    return this.#db.tx(async (q) => {
      await q.run(
        `INSERT INTO device_connections (device_id, replica_id, connected_at, heartbeat_at) VALUES ($1, $2, $3, $3)
         ON CONFLICT (device_id) DO UPDATE SET replica_id = excluded.replica_id, connected_at = excluded.connected_at, heartbeat_at = excluded.heartbeat_at`,
        [deviceId, replicaId, at],
      );
      const message: ReplicaMessage = { type: 'superseded', deviceId, origin: replicaId };
      await q.run('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, JSON.stringify(message)]);
    });
  }

  async connectionReplica(deviceId: string): Promise<string | undefined> {
    return (await this.#db.one<{ replica_id: string }>('SELECT replica_id FROM device_connections WHERE device_id = $1', [deviceId]))?.replica_id;
  }

  heartbeatConnections(replicaId: string, at: string): Promise<number> {
    return this.#db.run('UPDATE device_connections SET heartbeat_at = $2 WHERE replica_id = $1', [replicaId, at]);
  }

  async endConnection(deviceId: string, replicaId: string): Promise<void> {
    await this.#db.run('DELETE FROM device_connections WHERE device_id = $1 AND replica_id = $2', [deviceId, replicaId]);
  }

  endReplicaConnections(replicaId: string): Promise<number> {
    return this.#db.run('DELETE FROM device_connections WHERE replica_id = $1', [replicaId]);
  }

  async connectedDeviceIds(freshSince: string): Promise<Set<string>> {
    const rows = await this.#db.rows<{ device_id: string }>('SELECT device_id FROM device_connections WHERE heartbeat_at >= $1', [freshSince]);
    return new Set(rows.map((r) => r.device_id));
  }

  /** NOTIFY on the control channel (its own transaction: callers send it after their change committed). */
  async publish(message: Exclude<ReplicaMessage, { type: 'missed' }>): Promise<void> {
    await this.#db.run('SELECT pg_notify($1, $2)', [CONTROL_CHANNEL, JSON.stringify(message)]);
  }
}
