// Device inventories: tables `inventory_apps`, `inventory_mcp` and `inventory_mcp_errors`, each
// report replacing the device's previous one. A report is an outbox message: it is applied only
// when newer than the stream's high seq, and it refreshes the catalog's sightings, in one transaction.
import type { Database } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import type { InventoryApp, InventoryMcpError, InventoryMcpServer } from '../../../../protocol/index.ts';
import type { InventoryResult, InventoryStore, McpPlacement, McpRedactedDetails } from '../types.ts';
import type { SqliteCatalogStore } from './catalog.ts';
import type { SqliteOutboxStreams } from './outbox-streams.ts';

export function createInventoryTables(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE inventory_apps (
    device_id TEXT NOT NULL REFERENCES devices(id),
    app_id TEXT NOT NULL,
    os_user TEXT NOT NULL,
    display_name TEXT,
    version TEXT,
    path TEXT,
    last_seen_at TEXT,
    PRIMARY KEY (device_id, app_id, os_user)
  ) STRICT`);
  db.exec(`CREATE TABLE inventory_mcp (
    device_id TEXT NOT NULL REFERENCES devices(id),
    fingerprint TEXT NOT NULL,
    config_path TEXT NOT NULL,
    os_user TEXT NOT NULL,
    app TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    transport TEXT NOT NULL,
    command TEXT,
    args TEXT,
    url TEXT,
    env_keys TEXT NOT NULL,
    header_keys TEXT NOT NULL,
    PRIMARY KEY (device_id, fingerprint, config_path, os_user)
  ) STRICT`);
  db.exec(`CREATE TABLE inventory_mcp_errors (
    device_id TEXT NOT NULL REFERENCES devices(id),
    app TEXT NOT NULL,
    config_path TEXT NOT NULL,
    os_user TEXT NOT NULL,
    error TEXT NOT NULL
  ) STRICT`);
  db.exec('CREATE INDEX inventory_mcp_errors_device ON inventory_mcp_errors (device_id)');
}

/** Migration 5: the console shows, per MCP fingerprint, where it appears across the fleet. */
export function indexMcpInventoryByFingerprint(db: SchemaDatabase): void {
  db.exec('CREATE INDEX inventory_mcp_fingerprint ON inventory_mcp (fingerprint)');
}

export class SqliteInventoryStore implements InventoryStore {
  readonly #db: Database;
  readonly #streams: SqliteOutboxStreams;
  readonly #catalog: SqliteCatalogStore;

  constructor(db: Database, streams: SqliteOutboxStreams, catalog: SqliteCatalogStore) {
    this.#db = db;
    this.#streams = streams;
    this.#catalog = catalog;
  }

  replaceAppInventory(deviceId: string, stream: string, seq: number, apps: readonly InventoryApp[], at: string): Promise<InventoryResult> {
    return Promise.resolve(
      this.#db.transaction((): InventoryResult => {
        const high = this.#streams.highSeqNow(deviceId, stream);
        if (seq <= high) return { applied: false, highSeq: high, newItems: 0 };
        this.#db.prepare('DELETE FROM inventory_apps WHERE device_id = ?').run(deviceId);
        const insert = this.#db.prepare(
          `INSERT OR REPLACE INTO inventory_apps (device_id, app_id, os_user, display_name, version, path, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const a of apps) insert.run(deviceId, a.app_id, a.os_user ?? '', a.display_name ?? null, a.version ?? null, a.path ?? null, a.last_seen_at ?? null);
        this.#catalog.clearInventorySightingsNow(deviceId, 'app');
        const newItems = this.#catalog.recordSightingsNow(
          deviceId,
          apps.map((a) => ({ kind: 'app' as const, id: a.app_id, displayName: a.display_name })),
          at,
          'inventory',
        );
        this.#streams.advanceNow(deviceId, stream, seq, at);
        return { applied: true, highSeq: seq, newItems };
      }).immediate(),
    );
  }

  replaceMcpInventory(
    deviceId: string,
    stream: string,
    seq: number,
    servers: readonly InventoryMcpServer[],
    errors: readonly InventoryMcpError[],
    at: string,
  ): Promise<InventoryResult> {
    return Promise.resolve(
      this.#db.transaction((): InventoryResult => {
        const high = this.#streams.highSeqNow(deviceId, stream);
        if (seq <= high) return { applied: false, highSeq: high, newItems: 0 };
        this.#db.prepare('DELETE FROM inventory_mcp WHERE device_id = ?').run(deviceId);
        this.#db.prepare('DELETE FROM inventory_mcp_errors WHERE device_id = ?').run(deviceId);
        const insert = this.#db.prepare(
          `INSERT OR REPLACE INTO inventory_mcp (device_id, fingerprint, config_path, os_user, app, scope, name, transport, command, args, url, env_keys, header_keys)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const s of servers) {
          insert.run(
            deviceId, s.fingerprint, s.config_path, s.os_user ?? '', s.app, s.scope, s.name, s.transport, s.command ?? null,
            s.args ? JSON.stringify(s.args) : null, s.url ?? null, JSON.stringify(s.env_keys), JSON.stringify(s.header_keys),
          );
        }
        const insertError = this.#db.prepare('INSERT INTO inventory_mcp_errors (device_id, app, config_path, os_user, error) VALUES (?, ?, ?, ?, ?)');
        for (const e of errors) insertError.run(deviceId, e.app, e.config_path, e.os_user ?? '', e.error);
        this.#catalog.clearInventorySightingsNow(deviceId, 'mcp');
        const newItems = this.#catalog.recordSightingsNow(
          deviceId,
          servers.map((s) => ({ kind: 'mcp' as const, id: s.fingerprint, displayName: s.name, app: s.app, transport: s.transport })),
          at,
          'inventory',
        );
        this.#streams.advanceNow(deviceId, stream, seq, at);
        return { applied: true, highSeq: seq, newItems };
      }).immediate(),
    );
  }

  deviceInventory(deviceId: string): Promise<{ apps: InventoryApp[]; mcpServers: InventoryMcpServer[]; mcpErrors: InventoryMcpError[] }> {
    const apps = this.#db
      .prepare<[string], { app_id: string; os_user: string; display_name: string | null; version: string | null; path: string | null; last_seen_at: string | null }>(
        'SELECT app_id, os_user, display_name, version, path, last_seen_at FROM inventory_apps WHERE device_id = ? ORDER BY app_id, os_user',
      )
      .all(deviceId)
      .map((r) => {
        const a: InventoryApp = { app_id: r.app_id };
        if (r.os_user) a.os_user = r.os_user;
        if (r.display_name) a.display_name = r.display_name;
        if (r.version) a.version = r.version;
        if (r.path) a.path = r.path;
        if (r.last_seen_at) a.last_seen_at = r.last_seen_at;
        return a;
      });
    const mcpServers = this.#db
      .prepare<[string], Record<string, string | null>>('SELECT * FROM inventory_mcp WHERE device_id = ? ORDER BY app, name')
      .all(deviceId)
      .map((r) => {
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
    const mcpErrors = this.#db
      .prepare<[string], { app: string; config_path: string; os_user: string; error: string }>('SELECT app, config_path, os_user, error FROM inventory_mcp_errors WHERE device_id = ?')
      .all(deviceId)
      .map((r) => ({ app: r.app, config_path: r.config_path, error: r.error, ...(r.os_user ? { os_user: r.os_user } : {}) }));
    return Promise.resolve({ apps, mcpServers, mcpErrors });
  }

  mcpPlacements(fingerprints: readonly string[]): Promise<{ placements: McpPlacement[]; details: McpRedactedDetails[] }> {
    if (fingerprints.length === 0) return Promise.resolve({ placements: [], details: [] });
    const list = JSON.stringify(fingerprints);
    const placements = this.#db
      .prepare<[string], McpPlacement>(
        `SELECT fingerprint, app, scope, COUNT(DISTINCT device_id) AS devices FROM inventory_mcp
         WHERE fingerprint IN (SELECT value FROM json_each(?)) GROUP BY fingerprint, app, scope ORDER BY fingerprint, app, scope`,
      )
      .all(list);
    // One report per fingerprint (the same server has the same redacted form wherever it is: that is its fingerprint).
    const details = this.#db
      .prepare<[string], { fingerprint: string; name: string; transport: string; command: string | null; args: string | null; url: string | null; env_keys: string; header_keys: string }>(
        `SELECT fingerprint, name, transport, command, args, url, env_keys, header_keys FROM inventory_mcp
         WHERE rowid IN (SELECT MIN(rowid) FROM inventory_mcp WHERE fingerprint IN (SELECT value FROM json_each(?)) GROUP BY fingerprint)`,
      )
      .all(list)
      .map((r) => ({
        fingerprint: r.fingerprint,
        name: r.name,
        transport: r.transport,
        command: r.command,
        args: r.args ? (JSON.parse(r.args) as string[]) : [],
        url: r.url,
        envKeys: JSON.parse(r.env_keys) as string[],
        headerKeys: JSON.parse(r.header_keys) as string[],
      }));
    return Promise.resolve({ placements, details });
  }
}
