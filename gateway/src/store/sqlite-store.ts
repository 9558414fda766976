// The embedded GatewayStore: one SQLite file in the data dir (WAL, 0600, migrations), through the
// agent's openDatabase. Every multi-row change runs in one transaction.
import type { Database, Statement } from 'better-sqlite3';
import { openDatabase, type Logger } from '../../../lib/index.ts';
import type { CatalogStatus, EdgeEvent, InventoryApp, InventoryMcpError, InventoryMcpServer, PolicySettings } from '../../../protocol/index.ts';
import { TIMING } from '../../../protocol/index.ts';
import { GATEWAY_MIGRATIONS } from './schema.ts';
import type {
  CaRecord,
  CatalogItemRecord,
  CatalogKind,
  CatalogSighting,
  DeviceFacts,
  DeviceRecord,
  DeviceTokenIdentity,
  EventQuery,
  GatewayEventInput,
  GatewayStore,
  IngestResult,
  InventoryResult,
  PolicyItem,
  StoredEvent,
  UserDecision,
  UserRecord,
  VirtualKeyRecord,
} from './types.ts';
import { randomUUID } from 'node:crypto';

export const GATEWAY_DB_FILE = 'gateway.db';

export const DEFAULT_SETTINGS: PolicySettings = {
  pending_action: 'allow',
  fail_mode: 'open',
  intercept: true,
  routing: {},
  full_resync_s: TIMING.defaultFullResyncS,
  allow_direct_keys: false,
};

interface KeyRow {
  id: string;
  user_id: string;
  email: string;
  name: string | null;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

interface DeviceRow {
  id: string;
  owner_user_id: string;
  email: string;
  hostname: string;
  os: string;
  os_version: string | null;
  arch: string | null;
  agent_version: string | null;
  reported_users: string;
  enrolled_at: string;
  last_seen_at: string | null;
  revoked_at: string | null;
}

interface CatalogRow {
  kind: CatalogKind;
  id: string;
  display_name: string | null;
  status: CatalogStatus;
  app: string | null;
  transport: string | null;
  first_seen_at: string;
  last_seen_at: string;
  decided_at: string | null;
  fleet_count: number;
}

interface EventRow {
  id: number;
  source: 'agent' | 'gateway';
  device_id: string | null;
  seq: number | null;
  type: string;
  at: string;
  app: string | null;
  os_user: string | null;
  user_id: string | null;
  attrs: string;
  received_at: string;
}

const toKey = (r: KeyRow): VirtualKeyRecord => ({
  id: r.id,
  userId: r.user_id,
  userEmail: r.email,
  name: r.name,
  prefix: r.prefix,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
});

const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  ownerUserId: r.owner_user_id,
  ownerEmail: r.email,
  hostname: r.hostname,
  os: r.os,
  osVersion: r.os_version,
  arch: r.arch,
  agentVersion: r.agent_version,
  reportedUsers: JSON.parse(r.reported_users) as DeviceRecord['reportedUsers'],
  enrolledAt: r.enrolled_at,
  lastSeenAt: r.last_seen_at,
  revokedAt: r.revoked_at,
});

const KEY_SELECT = 'SELECT k.id, k.user_id, u.email, k.name, k.prefix, k.created_at, k.revoked_at, k.last_used_at FROM virtual_keys k JOIN users u ON u.id = k.user_id';
const DEVICE_SELECT = 'SELECT d.*, u.email FROM devices d JOIN users u ON u.id = d.owner_user_id';
const CATALOG_SELECT = `SELECT c.*, (SELECT COUNT(DISTINCT s.device_id) FROM catalog_sightings s WHERE s.kind = c.kind AND s.item_id = c.id) AS fleet_count
  FROM catalog_items c`;

export interface SqliteGatewayStoreOptions {
  dataDir: string;
  logger: Logger;
}

export class SqliteGatewayStore implements GatewayStore {
  readonly db: Database;
  readonly file: string;
  #closed = false;
  readonly #stmts: {
    highSeq: Statement<[string, string], { high_seq: number }>;
    setHighSeq: Statement<[string, string, number, string]>;
    insertEvent: Statement<unknown[]>;
    userOfOsUser: Statement<[string, string], { user_id: string }>;
    upsertSighting: Statement<unknown[]>;
    insertCatalog: Statement<unknown[]>;
    catalogExists: Statement<[string, string], { one: number }>;
  };

  constructor(options: SqliteGatewayStoreOptions) {
    const opened = openDatabase({ dir: options.dataDir, fileName: GATEWAY_DB_FILE, migrations: [GATEWAY_MIGRATIONS], logger: options.logger });
    this.db = opened.db;
    this.file = opened.file;
    if (opened.applied.length > 0) options.logger.info({ applied: opened.applied.map((m) => `${m.component}#${m.version}`) }, 'gateway database migrated');
    this.#stmts = {
      highSeq: this.db.prepare('SELECT high_seq FROM outbox_streams WHERE device_id = ? AND stream = ?'),
      setHighSeq: this.db.prepare(
        `INSERT INTO outbox_streams (device_id, stream, high_seq, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (device_id, stream) DO UPDATE SET high_seq = MAX(high_seq, excluded.high_seq), updated_at = excluded.updated_at`,
      ),
      insertEvent: this.db.prepare(
        `INSERT OR IGNORE INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at)
         VALUES ('agent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      // An agent event is the gateway user's whose OS user signed in on that device (its newest
      // enrollment); an event without an OS user, or from one never enrolled, has no user.
      userOfOsUser: this.db.prepare(
        'SELECT user_id FROM device_tokens WHERE device_id = ? AND os_user = ? ORDER BY created_at DESC LIMIT 1',
      ),
      catalogExists: this.db.prepare('SELECT 1 AS one FROM catalog_items WHERE kind = ? AND id = ?'),
      upsertSighting: this.db.prepare(
        `INSERT INTO catalog_sightings (kind, item_id, device_id, source, last_seen_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET last_seen_at = excluded.last_seen_at`,
      ),
      insertCatalog: this.db.prepare(
        `INSERT INTO catalog_items (kind, id, display_name, status, app, transport, first_seen_at, last_seen_at)
         VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)
         ON CONFLICT (kind, id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
           display_name = COALESCE(catalog_items.display_name, excluded.display_name),
           app = COALESCE(excluded.app, catalog_items.app), transport = COALESCE(excluded.transport, catalog_items.transport)`,
      ),
    };
  }

  // ---- users and keys ----

  ensureUser(email: string): Promise<UserRecord> {
    const existing = this.db.prepare<[string], { id: string; email: string; created_at: string }>('SELECT * FROM users WHERE email = ?').get(email);
    if (existing) return Promise.resolve({ id: existing.id, email: existing.email, createdAt: existing.created_at });
    const user = { id: `usr_${randomUUID()}`, email, createdAt: new Date().toISOString() };
    this.db.prepare('INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)').run(user.id, user.email, user.createdAt);
    return Promise.resolve(user);
  }

  findUser(idOrEmail: string): Promise<UserRecord | undefined> {
    const row = this.db.prepare<[string, string], { id: string; email: string; created_at: string }>('SELECT * FROM users WHERE id = ? OR email = ?').get(idOrEmail, idOrEmail);
    return Promise.resolve(row ? { id: row.id, email: row.email, createdAt: row.created_at } : undefined);
  }

  createVirtualKey(input: { id: string; userId: string; keyHash: string; prefix: string; name: string | null }): Promise<VirtualKeyRecord> {
    this.db
      .prepare('INSERT INTO virtual_keys (id, user_id, key_hash, prefix, name, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(input.id, input.userId, input.keyHash, input.prefix, input.name, new Date().toISOString());
    return Promise.resolve(this.#key(input.id)!);
  }

  #key(id: string): VirtualKeyRecord | undefined {
    const row = this.db.prepare<[string], KeyRow>(`${KEY_SELECT} WHERE k.id = ?`).get(id);
    return row ? toKey(row) : undefined;
  }

  findVirtualKeyByHash(keyHash: string): Promise<VirtualKeyRecord | undefined> {
    const row = this.db.prepare<[string], KeyRow>(`${KEY_SELECT} WHERE k.key_hash = ?`).get(keyHash);
    return Promise.resolve(row ? toKey(row) : undefined);
  }

  touchVirtualKey(id: string, at: string): Promise<void> {
    this.db.prepare('UPDATE virtual_keys SET last_used_at = ? WHERE id = ?').run(at, id);
    return Promise.resolve();
  }

  listVirtualKeys(): Promise<VirtualKeyRecord[]> {
    return Promise.resolve(this.db.prepare<[], KeyRow>(`${KEY_SELECT} ORDER BY k.created_at, k.id`).all().map(toKey));
  }

  revokeVirtualKey(id: string): Promise<VirtualKeyRecord | undefined> {
    this.db.prepare('UPDATE virtual_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(new Date().toISOString(), id);
    return Promise.resolve(this.#key(id));
  }

  // ---- devices ----

  enrollDevice(input: { deviceId: string; facts: DeviceFacts; osUser: string; userId: string; keyId: string; tokenId: string; tokenHash: string }): Promise<DeviceRecord> {
    const now = new Date().toISOString();
    const { facts } = input;
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO devices (id, owner_user_id, hostname, os, os_version, arch, agent_version, enrolled_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET owner_user_id = excluded.owner_user_id, hostname = excluded.hostname, os = excluded.os,
             os_version = COALESCE(excluded.os_version, devices.os_version), arch = COALESCE(excluded.arch, devices.arch),
             agent_version = COALESCE(excluded.agent_version, devices.agent_version)`,
        )
        .run(input.deviceId, input.userId, facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, now);
      // A new login of the same OS user on the same device replaces that user's previous token.
      this.db.prepare('UPDATE device_tokens SET revoked_at = ? WHERE device_id = ? AND os_user = ? AND revoked_at IS NULL').run(now, input.deviceId, input.osUser);
      this.db
        .prepare('INSERT INTO device_tokens (id, token_hash, device_id, os_user, user_id, key_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(input.tokenId, input.tokenHash, input.deviceId, input.osUser, input.userId, input.keyId, now);
    })();
    return Promise.resolve(this.#device(input.deviceId)!);
  }

  findDeviceToken(tokenHash: string): Promise<DeviceTokenIdentity | undefined> {
    const row = this.db
      .prepare<[string], { id: string; device_id: string; os_user: string; user_id: string; key_id: string; token_revoked: string | null; device_revoked: string | null; key_revoked: string | null }>(
        `SELECT t.id, t.device_id, t.os_user, t.user_id, t.key_id, t.revoked_at AS token_revoked, d.revoked_at AS device_revoked, k.revoked_at AS key_revoked
         FROM device_tokens t JOIN devices d ON d.id = t.device_id JOIN virtual_keys k ON k.id = t.key_id WHERE t.token_hash = ?`,
      )
      .get(tokenHash);
    if (!row) return Promise.resolve(undefined);
    const identity: DeviceTokenIdentity = { tokenId: row.id, deviceId: row.device_id, osUser: row.os_user, userId: row.user_id, keyId: row.key_id };
    if (row.device_revoked) identity.refused = 'device_revoked';
    else if (row.key_revoked) identity.refused = 'key_revoked';
    else if (row.token_revoked) identity.refused = 'token_revoked';
    return Promise.resolve(identity);
  }

  #device(id: string): DeviceRecord | undefined {
    const row = this.db.prepare<[string], DeviceRow>(`${DEVICE_SELECT} WHERE d.id = ?`).get(id);
    return row ? toDevice(row) : undefined;
  }

  getDevice(id: string): Promise<DeviceRecord | undefined> {
    return Promise.resolve(this.#device(id));
  }

  listDevices(): Promise<DeviceRecord[]> {
    return Promise.resolve(this.db.prepare<[], DeviceRow>(`${DEVICE_SELECT} ORDER BY d.hostname, d.id`).all().map(toDevice));
  }

  updateDeviceFromHello(id: string, facts: DeviceFacts, reportedUsers: DeviceRecord['reportedUsers'], at: string): Promise<void> {
    this.db
      .prepare('UPDATE devices SET hostname = ?, os = ?, os_version = ?, arch = ?, agent_version = ?, reported_users = ?, last_seen_at = ? WHERE id = ?')
      .run(facts.hostname, facts.os, facts.osVersion, facts.arch, facts.agentVersion, JSON.stringify(reportedUsers), at, id);
    return Promise.resolve();
  }

  touchDevice(id: string, at: string): Promise<void> {
    this.db.prepare('UPDATE devices SET last_seen_at = ? WHERE id = ?').run(at, id);
    return Promise.resolve();
  }

  revokeDevice(id: string): Promise<DeviceRecord | undefined> {
    this.db.prepare('UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?').run(new Date().toISOString(), id);
    return Promise.resolve(this.#device(id));
  }

  devicesEnrolledWithKey(keyId: string): Promise<string[]> {
    const rows = this.db.prepare<[string], { device_id: string }>('SELECT DISTINCT device_id FROM device_tokens WHERE key_id = ? AND revoked_at IS NULL').all(keyId);
    return Promise.resolve(rows.map((r) => r.device_id));
  }

  deviceUserMap(deviceId: string): Promise<Map<string, string>> {
    const rows = this.db
      .prepare<[string], { os_user: string; user_id: string }>(
        `SELECT t.os_user, t.user_id FROM device_tokens t JOIN virtual_keys k ON k.id = t.key_id
         WHERE t.device_id = ? AND t.revoked_at IS NULL AND k.revoked_at IS NULL ORDER BY t.created_at`,
      )
      .all(deviceId);
    return Promise.resolve(new Map(rows.map((r) => [r.os_user, r.user_id])));
  }

  // ---- catalogs ----

  #recordSightings(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): number {
    let created = 0;
    for (const item of items) {
      if (!this.#stmts.catalogExists.get(item.kind, item.id)) created++;
      this.#stmts.insertCatalog.run(item.kind, item.id, item.displayName ?? null, item.app ?? null, item.transport ?? null, at, at);
      this.#stmts.upsertSighting.run(item.kind, item.id, deviceId, source, at);
    }
    return created;
  }

  recordSightings(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): Promise<number> {
    return Promise.resolve(this.db.transaction(() => this.#recordSightings(deviceId, items, at, source))());
  }

  #userDecisionsFor(kind: CatalogKind, id: string): CatalogItemRecord['userDecisions'] {
    return this.db
      .prepare<[string, string], { user_id: string; email: string; status: CatalogStatus; decided_at: string }>(
        'SELECT d.user_id, u.email, d.status, d.decided_at FROM user_decisions d JOIN users u ON u.id = d.user_id WHERE d.kind = ? AND d.item_id = ? ORDER BY u.email',
      )
      .all(kind, id)
      .map((r) => ({ userId: r.user_id, userEmail: r.email, status: r.status, decidedAt: r.decided_at }));
  }

  #toCatalog(r: CatalogRow): CatalogItemRecord {
    return {
      kind: r.kind,
      id: r.id,
      displayName: r.display_name,
      status: r.status,
      firstSeenAt: r.first_seen_at,
      lastSeenAt: r.last_seen_at,
      decidedAt: r.decided_at,
      fleetCount: r.fleet_count,
      app: r.app,
      transport: r.transport,
      userDecisions: this.#userDecisionsFor(r.kind, r.id),
    };
  }

  listCatalog(kind: CatalogKind): Promise<CatalogItemRecord[]> {
    const rows = this.db.prepare<[string], CatalogRow>(`${CATALOG_SELECT} WHERE c.kind = ? ORDER BY c.id`).all(kind);
    return Promise.resolve(rows.map((r) => this.#toCatalog(r)));
  }

  getCatalogItem(kind: CatalogKind, id: string): Promise<CatalogItemRecord | undefined> {
    const row = this.db.prepare<[string, string], CatalogRow>(`${CATALOG_SELECT} WHERE c.kind = ? AND c.id = ?`).get(kind, id);
    return Promise.resolve(row ? this.#toCatalog(row) : undefined);
  }

  setGlobalDecision(kind: CatalogKind, id: string, status: CatalogStatus, at: string): Promise<void> {
    // An administrator may decide on an item before any device reported it.
    this.db
      .prepare(
        `INSERT INTO catalog_items (kind, id, status, first_seen_at, last_seen_at, decided_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (kind, id) DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at`,
      )
      .run(kind, id, status, at, at, at);
    return Promise.resolve();
  }

  setUserDecision(kind: CatalogKind, id: string, userId: string, status: CatalogStatus | undefined, at: string): Promise<void> {
    this.db.transaction(() => {
      this.db
        .prepare(`INSERT INTO catalog_items (kind, id, status, first_seen_at, last_seen_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING`)
        .run(kind, id, at, at);
      if (status === undefined) {
        this.db.prepare('DELETE FROM user_decisions WHERE kind = ? AND item_id = ? AND user_id = ?').run(kind, id, userId);
      } else {
        this.db
          .prepare(
            `INSERT INTO user_decisions (kind, item_id, user_id, status, decided_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at`,
          )
          .run(kind, id, userId, status, at);
      }
    })();
    return Promise.resolve();
  }

  policyItems(): Promise<PolicyItem[]> {
    const rows = this.db
      .prepare<[], { kind: CatalogKind; id: string; display_name: string | null; status: CatalogStatus }>('SELECT kind, id, display_name, status FROM catalog_items ORDER BY kind, id')
      .all();
    return Promise.resolve(rows.map((r) => ({ kind: r.kind, id: r.id, displayName: r.display_name, status: r.status })));
  }

  userDecisions(): Promise<UserDecision[]> {
    const rows = this.db
      .prepare<[], { kind: CatalogKind; item_id: string; user_id: string; status: CatalogStatus }>('SELECT kind, item_id, user_id, status FROM user_decisions')
      .all();
    return Promise.resolve(rows.map((r) => ({ kind: r.kind, itemId: r.item_id, userId: r.user_id, status: r.status })));
  }

  getSettings(): Promise<PolicySettings> {
    const rows = this.db.prepare<[], { key: string; value_json: string }>('SELECT key, value_json FROM settings').all();
    const stored = Object.fromEntries(rows.map((r) => [r.key, JSON.parse(r.value_json) as unknown]));
    return Promise.resolve({ ...DEFAULT_SETTINGS, ...stored });
  }

  saveSettings(settings: PolicySettings): Promise<void> {
    const now = new Date().toISOString();
    const upsert = this.db.prepare('INSERT INTO settings (key, value_json, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at');
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(settings)) upsert.run(key, JSON.stringify(value), now);
    })();
    return Promise.resolve();
  }

  bumpPolicyVersion(): Promise<number> {
    const row = this.db
      .prepare<[], { value: string }>(
        `INSERT INTO gw_meta (key, value) VALUES ('policy_version', '2')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) RETURNING value`,
      )
      .get()!;
    return Promise.resolve(Number(row.value));
  }

  policyVersion(): Promise<number> {
    const row = this.db.prepare<[], { value: string }>(`SELECT value FROM gw_meta WHERE key = 'policy_version'`).get();
    return Promise.resolve(row ? Number(row.value) : 1);
  }

  // ---- outbox ingestion ----

  #highSeq(deviceId: string, stream: string): number {
    return this.#stmts.highSeq.get(deviceId, stream)?.high_seq ?? 0;
  }

  highSeq(deviceId: string, stream: string): Promise<number> {
    return Promise.resolve(this.#highSeq(deviceId, stream));
  }

  ingestEvents(deviceId: string, stream: string, events: readonly EdgeEvent[], receivedAt: string): Promise<IngestResult> {
    const result = this.db.transaction((): IngestResult => {
      const high = this.#highSeq(deviceId, stream);
      let stored = 0;
      let top = high;
      // A batch comes from one device and usually one or two OS users: each is looked up once.
      const users = new Map<string, string | null>();
      const userOf = (osUser: string | undefined): string | null => {
        if (osUser === undefined) return null;
        let user = users.get(osUser);
        if (user === undefined) {
          user = this.#stmts.userOfOsUser.get(deviceId, osUser)?.user_id ?? null;
          users.set(osUser, user);
        }
        return user;
      };
      for (const e of events) {
        if (e.seq <= high) continue;
        // Stored in UTC so `since` filters compare like with like whatever offset the agent used.
        const eventAt = new Date(e.at).toISOString();
        const info = this.#stmts.insertEvent.run(
          deviceId, stream, e.seq, e.type, eventAt, e.app ?? null, e.os_user ?? null, userOf(e.os_user), JSON.stringify(e.attrs ?? {}), receivedAt,
        );
        stored += info.changes;
        if (e.seq > top) top = e.seq;
      }
      if (top > high) this.#stmts.setHighSeq.run(deviceId, stream, top, receivedAt);
      return { stored, highSeq: top };
    }).immediate();
    return Promise.resolve(result);
  }

  replaceAppInventory(deviceId: string, stream: string, seq: number, apps: readonly InventoryApp[], at: string): Promise<InventoryResult> {
    return Promise.resolve(
      this.db.transaction((): InventoryResult => {
        const high = this.#highSeq(deviceId, stream);
        if (seq <= high) return { applied: false, highSeq: high, newItems: 0 };
        this.db.prepare('DELETE FROM inventory_apps WHERE device_id = ?').run(deviceId);
        const insert = this.db.prepare(
          `INSERT OR REPLACE INTO inventory_apps (device_id, app_id, os_user, display_name, version, path, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const a of apps) insert.run(deviceId, a.app_id, a.os_user ?? '', a.display_name ?? null, a.version ?? null, a.path ?? null, a.last_seen_at ?? null);
        this.db.prepare(`DELETE FROM catalog_sightings WHERE device_id = ? AND kind = 'app' AND source = 'inventory'`).run(deviceId);
        const newItems = this.#recordSightings(
          deviceId,
          apps.map((a) => ({ kind: 'app' as const, id: a.app_id, displayName: a.display_name })),
          at,
          'inventory',
        );
        this.#stmts.setHighSeq.run(deviceId, stream, seq, at);
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
      this.db.transaction((): InventoryResult => {
        const high = this.#highSeq(deviceId, stream);
        if (seq <= high) return { applied: false, highSeq: high, newItems: 0 };
        this.db.prepare('DELETE FROM inventory_mcp WHERE device_id = ?').run(deviceId);
        this.db.prepare('DELETE FROM inventory_mcp_errors WHERE device_id = ?').run(deviceId);
        const insert = this.db.prepare(
          `INSERT OR REPLACE INTO inventory_mcp (device_id, fingerprint, config_path, os_user, app, scope, name, transport, command, args, url, env_keys, header_keys)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const s of servers) {
          insert.run(
            deviceId, s.fingerprint, s.config_path, s.os_user ?? '', s.app, s.scope, s.name, s.transport, s.command ?? null,
            s.args ? JSON.stringify(s.args) : null, s.url ?? null, JSON.stringify(s.env_keys), JSON.stringify(s.header_keys),
          );
        }
        const insertError = this.db.prepare('INSERT INTO inventory_mcp_errors (device_id, app, config_path, os_user, error) VALUES (?, ?, ?, ?, ?)');
        for (const e of errors) insertError.run(deviceId, e.app, e.config_path, e.os_user ?? '', e.error);
        this.db.prepare(`DELETE FROM catalog_sightings WHERE device_id = ? AND kind = 'mcp' AND source = 'inventory'`).run(deviceId);
        const newItems = this.#recordSightings(
          deviceId,
          servers.map((s) => ({ kind: 'mcp' as const, id: s.fingerprint, displayName: s.name, app: s.app, transport: s.transport })),
          at,
          'inventory',
        );
        this.#stmts.setHighSeq.run(deviceId, stream, seq, at);
        return { applied: true, highSeq: seq, newItems };
      }).immediate(),
    );
  }

  recordGatewayEvent(event: GatewayEventInput): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at)
         VALUES ('gateway', ?, NULL, NULL, ?, ?, ?, NULL, ?, ?, ?)`,
      )
      .run(event.deviceId ?? null, event.type, event.at, event.app ?? null, event.userId ?? null, JSON.stringify(event.attrs), new Date().toISOString());
    return Promise.resolve();
  }

  queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    const filters: [string, string | number | undefined][] = [
      ['device_id = ?', query.deviceId],
      ['user_id = ?', query.userId],
      ['app = ?', query.app],
      ['type = ?', query.type],
      ['at >= ?', query.since],
      ['id < ?', query.beforeId],
    ];
    for (const [clause, value] of filters) {
      if (value === undefined) continue;
      where.push(clause);
      params.push(value);
    }
    const sql = `SELECT id, source, device_id, seq, type, at, app, os_user, user_id, attrs, received_at FROM events
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare<unknown[], EventRow>(sql).all(...params, query.limit);
    return Promise.resolve(
      rows.map((r) => ({
        id: r.id,
        source: r.source,
        deviceId: r.device_id,
        seq: r.seq,
        type: r.type,
        at: r.at,
        app: r.app,
        osUser: r.os_user,
        userId: r.user_id,
        attrs: JSON.parse(r.attrs) as StoredEvent['attrs'],
        receivedAt: r.received_at,
      })),
    );
  }

  deviceInventory(deviceId: string): Promise<{ apps: InventoryApp[]; mcpServers: InventoryMcpServer[]; mcpErrors: InventoryMcpError[] }> {
    const apps = this.db
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
    const mcpServers = this.db
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
    const mcpErrors = this.db
      .prepare<[string], { app: string; config_path: string; os_user: string; error: string }>('SELECT app, config_path, os_user, error FROM inventory_mcp_errors WHERE device_id = ?')
      .all(deviceId)
      .map((r) => ({ app: r.app, config_path: r.config_path, error: r.error, ...(r.os_user ? { os_user: r.os_user } : {}) }));
    return Promise.resolve({ apps, mcpServers, mcpErrors });
  }

  // ---- CA ----

  getCa(): Promise<CaRecord | undefined> {
    const row = this.db.prepare<[], { cert_pem: string; key_pem: string; source: 'generated' | 'uploaded'; created_at: string }>('SELECT * FROM ca WHERE id = 1').get();
    return Promise.resolve(row ? { certPem: row.cert_pem, keyPem: row.key_pem, source: row.source, createdAt: row.created_at } : undefined);
  }

  saveCa(ca: CaRecord): Promise<void> {
    this.db
      .prepare(
        `INSERT INTO ca (id, cert_pem, key_pem, source, created_at) VALUES (1, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, source = excluded.source, created_at = excluded.created_at`,
      )
      .run(ca.certPem, ca.keyPem, ca.source, ca.createdAt);
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
    return Promise.resolve();
  }
}
