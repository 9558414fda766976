// Device inventories on PostgreSQL: tables `inventory_apps`, `inventory_mcp` and
// `inventory_mcp_errors`, each report replacing the device's previous one when it is newer than the
// stream's high seq, refreshing the catalog's sightings in the same transaction.
import type { InventoryApp, InventoryMcpError, InventoryMcpServer } from '../../../../protocol/index.ts';
import type { InventoryResult, InventoryStore, McpPlacement, McpRedactedDetails } from '../types.ts';
import type { PgCatalogStore } from './catalog.ts';
import type { PgDatabase } from './db.ts';
import type { PgOutboxStreams } from './outbox-streams.ts';

export const INVENTORY_TABLES = [
  `CREATE TABLE inventory_apps (
    device_id TEXT NOT NULL REFERENCES devices(id),
    app_id TEXT COLLATE "C" NOT NULL,
    os_user TEXT COLLATE "C" NOT NULL,
    display_name TEXT,
    version TEXT,
    path TEXT,
    last_seen_at TEXT,
    PRIMARY KEY (device_id, app_id, os_user)
  )`,
  // `ord` keeps the report's order: the first report of a fingerprint is the one shown (SQLite's rowid).
  `CREATE TABLE inventory_mcp (
    ord BIGSERIAL NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices(id),
    fingerprint TEXT NOT NULL,
    config_path TEXT NOT NULL,
    os_user TEXT NOT NULL,
    app TEXT COLLATE "C" NOT NULL,
    scope TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    transport TEXT NOT NULL,
    command TEXT,
    args TEXT,
    url TEXT,
    env_keys TEXT NOT NULL,
    header_keys TEXT NOT NULL,
    PRIMARY KEY (device_id, fingerprint, config_path, os_user)
  )`,
  'CREATE INDEX inventory_mcp_fingerprint ON inventory_mcp (fingerprint)',
  `CREATE TABLE inventory_mcp_errors (
    ord BIGSERIAL PRIMARY KEY,
    device_id TEXT NOT NULL REFERENCES devices(id),
    app TEXT NOT NULL,
    config_path TEXT NOT NULL,
    os_user TEXT NOT NULL,
    error TEXT NOT NULL
  )`,
  'CREATE INDEX inventory_mcp_errors_device ON inventory_mcp_errors (device_id)',
];

export class PgInventoryStore implements InventoryStore {
  readonly #db: PgDatabase;
  readonly #streams: PgOutboxStreams;
  readonly #catalog: PgCatalogStore;

  constructor(db: PgDatabase, streams: PgOutboxStreams, catalog: PgCatalogStore) {
    this.#db = db;
    this.#streams = streams;
    this.#catalog = catalog;
  }

  replaceAppInventory(deviceId: string, stream: string, seq: number, apps: readonly InventoryApp[], at: string): Promise<InventoryResult> {
    return this.#db.tx(async (q): Promise<InventoryResult> => {
      await this.#streams.lockIn(q, deviceId, stream);
      const high = await this.#streams.highSeqIn(q, deviceId, stream);
      if (seq <= high) return { applied: false, highSeq: high, newItems: 0 };
      await q.run('DELETE FROM inventory_apps WHERE device_id = $1', [deviceId]);
      for (const a of apps) {
        // A report naming the same app and user twice keeps the last entry (SQLite's INSERT OR REPLACE).
        await q.run(
          `INSERT INTO inventory_apps (device_id, app_id, os_user, display_name, version, path, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (device_id, app_id, os_user) DO UPDATE SET display_name = excluded.display_name, version = excluded.version, path = excluded.path, last_seen_at = excluded.last_seen_at`,
          [deviceId, a.app_id, a.os_user ?? '', a.display_name ?? null, a.version ?? null, a.path ?? null, a.last_seen_at ?? null],
        );
      }
      await this.#catalog.clearInventorySightingsIn(q, deviceId, 'app');
      const newItems = await this.#catalog.recordSightingsIn(
        q,
        deviceId,
        apps.map((a) => ({ kind: 'app' as const, id: a.app_id, displayName: a.display_name })),
        at,
        'inventory',
      );
      await this.#streams.advanceIn(q, deviceId, stream, seq, at);
      return { applied: true, highSeq: seq, newItems };
    });
  }

  replaceMcpInventory(
    deviceId: string,
    stream: string,
    seq: number,
    servers: readonly InventoryMcpServer[],
    errors: readonly InventoryMcpError[],
    at: string,
  ): Promise<InventoryResult> {
    return this.#db.tx(async (q): Promise<InventoryResult> => {
      await this.#streams.lockIn(q, deviceId, stream);
      const high = await this.#streams.highSeqIn(q, deviceId, stream);
      if (seq <= high) return { applied: false, highSeq: high, newItems: 0 };
      await q.run('DELETE FROM inventory_mcp WHERE device_id = $1', [deviceId]);
      await q.run('DELETE FROM inventory_mcp_errors WHERE device_id = $1', [deviceId]);
      for (const s of servers) {
        // INSERT OR REPLACE on SQLite deletes and re-inserts: the replacing row gets a new place in order.
        await q.run('DELETE FROM inventory_mcp WHERE device_id = $1 AND fingerprint = $2 AND config_path = $3 AND os_user = $4', [
          deviceId, s.fingerprint, s.config_path, s.os_user ?? '',
        ]);
        await q.run(
          `INSERT INTO inventory_mcp (device_id, fingerprint, config_path, os_user, app, scope, name, transport, command, args, url, env_keys, header_keys)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
          [
            deviceId, s.fingerprint, s.config_path, s.os_user ?? '', s.app, s.scope, s.name, s.transport, s.command ?? null,
            s.args ? JSON.stringify(s.args) : null, s.url ?? null, JSON.stringify(s.env_keys), JSON.stringify(s.header_keys),
          ],
        );
      }
      for (const e of errors) {
        await q.run('INSERT INTO inventory_mcp_errors (device_id, app, config_path, os_user, error) VALUES ($1, $2, $3, $4, $5)', [
          deviceId, e.app, e.config_path, e.os_user ?? '', e.error,
        ]);
      }
      await this.#catalog.clearInventorySightingsIn(q, deviceId, 'mcp');
      const newItems = await this.#catalog.recordSightingsIn(
        q,
        deviceId,
        servers.map((s) => ({ kind: 'mcp' as const, id: s.fingerprint, displayName: s.name, app: s.app, transport: s.transport })),
        at,
        'inventory',
      );
      await this.#streams.advanceIn(q, deviceId, stream, seq, at);
      return { applied: true, highSeq: seq, newItems };
    });
  }

  async deviceInventory(deviceId: string): Promise<{ apps: InventoryApp[]; mcpServers: InventoryMcpServer[]; mcpErrors: InventoryMcpError[] }> {
    const apps = (
      await this.#db.rows<{ app_id: string; os_user: string; display_name: string | null; version: string | null; path: string | null; last_seen_at: string | null }>(
        'SELECT app_id, os_user, display_name, version, path, last_seen_at FROM inventory_apps WHERE device_id = $1 ORDER BY app_id, os_user',
        [deviceId],
      )
    ).map((r) => {
      const a: InventoryApp = { app_id: r.app_id };
      if (r.os_user) a.os_user = r.os_user;
      if (r.display_name) a.display_name = r.display_name;
      if (r.version) a.version = r.version;
      if (r.path) a.path = r.path;
      if (r.last_seen_at) a.last_seen_at = r.last_seen_at;
      return a;
    });
    const mcpServers = (await this.#db.rows<Record<string, string | null>>('SELECT * FROM inventory_mcp WHERE device_id = $1 ORDER BY app, name, ord', [deviceId])).map((r) => {
      const s: InventoryMcpServer = {
        app: r['app']!,
        scope: r['scope']!,
        config_path: r['config_path']!,
        name: r['name']!,
        transport: r['transport'] as InventoryMcpServer['transport'],
        fingerprint: r['fingerprint']!,
        env_keys: JSON.parse(r['env_keys']!) as string[],
        header_keys: JSON.parse(r['header_keys']!) as string[],
      };
      if (r['command']) s.command = r['command'];
      if (r['args']) s.args = JSON.parse(r['args']) as string[];
      if (r['url']) s.url = r['url'];
      if (r['os_user']) s.os_user = r['os_user'];
      return s;
    });
    const mcpErrors = (
      await this.#db.rows<{ app: string; config_path: string; os_user: string; error: string }>(
        'SELECT app, config_path, os_user, error FROM inventory_mcp_errors WHERE device_id = $1 ORDER BY ord',
        [deviceId],
      )
    ).map((r) => ({ app: r.app, config_path: r.config_path, error: r.error, ...(r.os_user ? { os_user: r.os_user } : {}) }));
    return { apps, mcpServers, mcpErrors };
  }

  async mcpPlacements(fingerprints: readonly string[]): Promise<{ placements: McpPlacement[]; details: McpRedactedDetails[] }> {
    if (fingerprints.length === 0) return { placements: [], details: [] };
    const list = [...fingerprints];
    const placements = await this.#db.rows<McpPlacement>(
      `SELECT fingerprint, app, scope, COUNT(DISTINCT device_id) AS devices FROM inventory_mcp
       WHERE fingerprint = ANY($1::text[]) GROUP BY fingerprint, app, scope ORDER BY fingerprint, app, scope`,
      [list],
    );
    // One report per fingerprint (the same server has the same redacted form wherever it is: that is its fingerprint).
    const details = (
      await this.#db.rows<{ fingerprint: string; name: string; transport: string; command: string | null; args: string | null; url: string | null; env_keys: string; header_keys: string }>(
        `SELECT DISTINCT ON (fingerprint) fingerprint, name, transport, command, args, url, env_keys, header_keys FROM inventory_mcp
         WHERE fingerprint = ANY($1::text[]) ORDER BY fingerprint, ord`,
        [list],
      )
    ).map((r) => ({
      fingerprint: r.fingerprint,
      name: r.name,
      transport: r.transport,
      command: r.command,
      args: r.args ? (JSON.parse(r.args) as string[]) : [],
      url: r.url,
      envKeys: JSON.parse(r.env_keys) as string[],
      headerKeys: JSON.parse(r.header_keys) as string[],
    }));
    return { placements, details };
  }
}
