// The embedded GatewayStore: one SQLite file in the data dir (WAL, 0600, migrations) through the
// shared openDatabase, composed of one module per aggregate (sqlite/*.ts), each owning its tables
// and queries. Every multi-row change runs in one transaction inside its module.
import type { Database } from 'better-sqlite3';
import { openDatabase, systemClock, type Clock, type Logger } from '../../../lib/index.ts';
import type { CatalogStatus, EdgeEvent, InventoryApp, InventoryMcpError, InventoryMcpServer, PolicySettings } from '../../../protocol/index.ts';
import { GATEWAY_MIGRATIONS } from './schema.ts';
import { SqliteCaStore } from './sqlite/ca.ts';
import { SqliteCatalogStore } from './sqlite/catalog.ts';
import { SqliteConnectionStore } from './sqlite/connections.ts';
import { SqliteDeviceStore } from './sqlite/devices.ts';
import { SqliteEventStore } from './sqlite/events.ts';
import { SqliteInventoryStore } from './sqlite/inventory.ts';
import { SqliteOutboxStreams } from './sqlite/outbox-streams.ts';
import { SqliteSettingsStore } from './sqlite/settings.ts';
import { SqliteSsoStore } from './sqlite/sso.ts';
import { SqliteUserKeyStore } from './sqlite/users-keys.ts';
import { SqliteChallengeStore } from './sqlite/challenges.ts';
import { SqliteConsoleSessionStore } from './sqlite/console-sessions.ts';
import { EventRetention } from './retention.ts';
import type {
  CaRecord,
  CatalogItemRecord,
  CatalogKind,
  CatalogPageQuery,
  CatalogSighting,
  ConsoleSessionRecord,
  DeviceBudgets,
  DeviceFacts,
  DevicePageQuery,
  DeviceStatusRow,
  EventDayCount,
  McpPlacement,
  McpRedactedDetails,
  DeviceRecord,
  DeviceTokenIdentity,
  DeviceUserRecord,
  EventQuery,
  GatewayEventInput,
  GatewayStore,
  IngestResult,
  InventoryResult,
  RefreshFamilyRecord,
  RefreshLookup,
  SsoUserRecord,
  PolicyItem,
  StoredEvent,
  UserDecision,
  UserRecord,
  VirtualKeyRecord,
} from './types.ts';

export { DEFAULT_SETTINGS } from './sqlite/settings.ts';

export const GATEWAY_DB_FILE = 'gateway.db';

export interface SqliteGatewayStoreOptions {
  dataDir: string;
  logger: Logger;
  /** Time of the rows the store stamps itself (created, enrolled, revoked, received); tests pass a ManualClock. */
  clock?: Clock;
  /** When set, events older than this many days are pruned periodically (config `events_retention_days`). */
  eventsRetentionDays?: number | undefined;
}

export class SqliteGatewayStore implements GatewayStore {
  readonly db: Database;
  readonly file: string;
  readonly keys: SqliteUserKeyStore;
  readonly devices: SqliteDeviceStore;
  readonly catalog: SqliteCatalogStore;
  readonly settings: SqliteSettingsStore;
  readonly events: SqliteEventStore;
  readonly inventory: SqliteInventoryStore;
  readonly ca: SqliteCaStore;
  readonly sso: SqliteSsoStore;
  readonly connections: SqliteConnectionStore;
  readonly challenges: SqliteChallengeStore;
  readonly consoleSessions: SqliteConsoleSessionStore;
  /** The periodic prune, when the store was opened with a retention. */
  readonly retention: EventRetention | undefined;
  #closed = false;

  constructor(options: SqliteGatewayStoreOptions) {
    const opened = openDatabase({ dir: options.dataDir, fileName: GATEWAY_DB_FILE, migrations: [GATEWAY_MIGRATIONS], logger: options.logger });
    this.db = opened.db;
    this.file = opened.file;
    if (opened.applied.length > 0) options.logger.info({ applied: opened.applied.map((m) => `${m.component}#${m.version}`) }, 'gateway database migrated');
    const clock = options.clock ?? systemClock;
    const streams = new SqliteOutboxStreams(this.db);
    this.keys = new SqliteUserKeyStore(this.db, clock);
    this.devices = new SqliteDeviceStore(this.db, clock);
    this.catalog = new SqliteCatalogStore(this.db);
    this.settings = new SqliteSettingsStore(this.db, clock);
    this.events = new SqliteEventStore(this.db, streams, this.devices, clock);
    this.inventory = new SqliteInventoryStore(this.db, streams, this.catalog);
    this.ca = new SqliteCaStore(this.db);
    this.sso = new SqliteSsoStore(this.db);
    this.connections = new SqliteConnectionStore(this.db);
    this.challenges = new SqliteChallengeStore(this.db);
    this.consoleSessions = new SqliteConsoleSessionStore(this.db);
    if (options.eventsRetentionDays !== undefined) {
      this.retention = new EventRetention({ events: this.events, days: options.eventsRetentionDays, clock, logger: options.logger });
      this.retention.start();
    }
  }

  // ---- users and keys ----
  ensureUser(email: string): Promise<UserRecord> {
    return this.keys.ensureUser(email);
  }
  findUser(idOrEmail: string): Promise<UserRecord | undefined> {
    return this.keys.findUser(idOrEmail);
  }
  createVirtualKey(input: { id: string; userId: string; keyHash: string; prefix: string; name: string | null }): Promise<VirtualKeyRecord> {
    return this.keys.createVirtualKey(input);
  }
  findVirtualKeyByHash(keyHash: string): Promise<VirtualKeyRecord | undefined> {
    return this.keys.findVirtualKeyByHash(keyHash);
  }
  touchVirtualKey(id: string, at: string): Promise<void> {
    return this.keys.touchVirtualKey(id, at);
  }
  listVirtualKeys(): Promise<VirtualKeyRecord[]> {
    return this.keys.listVirtualKeys();
  }
  revokeVirtualKey(id: string): Promise<VirtualKeyRecord | undefined> {
    return this.keys.revokeVirtualKey(id);
  }

  // ---- devices ----
  enrollDevice(input: { deviceId: string; facts: DeviceFacts; publicKey: string; osUser: string; userId: string; keyId: string }): Promise<DeviceRecord> {
    return this.devices.enrollDevice(input);
  }
  deviceByPublicKey(publicKey: string): Promise<DeviceRecord | undefined> {
    return this.devices.deviceByPublicKey(publicKey);
  }
  issueDeviceToken(input: { tokenId: string; tokenHash: string; deviceId: string; expiresAt: string }): Promise<void> {
    return this.devices.issueDeviceToken(input);
  }
  findDeviceToken(tokenHash: string): Promise<DeviceTokenIdentity | undefined> {
    return this.devices.findDeviceToken(tokenHash);
  }
  getDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.devices.getDevice(id);
  }
  listDevices(): Promise<DeviceRecord[]> {
    return this.devices.listDevices();
  }
  devicePage(query: DevicePageQuery): Promise<DeviceRecord[]> {
    return this.devices.devicePage(query);
  }
  deviceStatusRows(): Promise<DeviceStatusRow[]> {
    return this.devices.deviceStatusRows();
  }
  updateDeviceFromHello(id: string, facts: DeviceFacts, reportedUsers: DeviceRecord['reportedUsers'], at: string): Promise<void> {
    return this.devices.updateDeviceFromHello(id, facts, reportedUsers, at);
  }
  touchDevice(id: string, at: string): Promise<void> {
    return this.devices.touchDevice(id, at);
  }
  revokeDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.devices.revokeDevice(id);
  }
  resetDevice(id: string): Promise<DeviceRecord | undefined> {
    return this.devices.resetDevice(id);
  }
  devicesEnrolledWithKey(keyId: string): Promise<string[]> {
    return this.devices.devicesEnrolledWithKey(keyId);
  }
  signOutKey(keyId: string): Promise<string[]> {
    return this.devices.signOutKey(keyId);
  }
  deviceUsers(deviceId: string): Promise<DeviceUserRecord[]> {
    return this.devices.deviceUsers(deviceId);
  }
  deviceUserMap(deviceId: string): Promise<Map<string, string>> {
    return this.devices.deviceUserMap(deviceId);
  }

  // ---- catalogs ----
  recordSightings(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): Promise<number> {
    return this.catalog.recordSightings(deviceId, items, at, source);
  }
  listCatalog(kind: CatalogKind): Promise<CatalogItemRecord[]> {
    return this.catalog.listCatalog(kind);
  }
  getCatalogItem(kind: CatalogKind, id: string): Promise<CatalogItemRecord | undefined> {
    return this.catalog.getCatalogItem(kind, id);
  }
  setGlobalDecision(kind: CatalogKind, id: string, status: CatalogStatus, at: string): Promise<number> {
    return this.catalog.setGlobalDecision(kind, id, status, at);
  }
  setUserDecision(kind: CatalogKind, id: string, userId: string, status: CatalogStatus | undefined, at: string): Promise<number> {
    return this.catalog.setUserDecision(kind, id, userId, status, at);
  }
  policyItems(): Promise<PolicyItem[]> {
    return this.catalog.policyItems();
  }
  userDecisions(): Promise<UserDecision[]> {
    return this.catalog.userDecisions();
  }
  catalogPage(kind: CatalogKind, query: CatalogPageQuery): Promise<{ items: CatalogItemRecord[]; total: number }> {
    return this.catalog.catalogPage(kind, query);
  }
  catalogCounts(): Promise<{ kind: CatalogKind; status: CatalogStatus; count: number }[]> {
    return this.catalog.catalogCounts();
  }
  itemsAddedBy(deviceId: string): Promise<number> {
    return this.catalog.itemsAddedBy(deviceId);
  }
  countUnknown(kind: CatalogKind, ids: readonly string[]): Promise<number> {
    return this.catalog.countUnknown(kind, ids);
  }
  deleteCatalogItems(kind: CatalogKind, ids: readonly string[]): Promise<{ deleted: number; version: number | undefined }> {
    return this.catalog.deleteCatalogItems(kind, ids);
  }
  mergeCatalogItem(kind: CatalogKind, from: string, into: string): Promise<number | undefined> {
    return this.catalog.mergeCatalogItem(kind, from, into);
  }

  // ---- settings and policy version ----
  getSettings(): Promise<PolicySettings> {
    return this.settings.getSettings();
  }
  saveSettings(settings: PolicySettings): Promise<number> {
    return this.settings.saveSettings(settings);
  }
  getBudgets(): Promise<DeviceBudgets> {
    return this.settings.getBudgets();
  }
  saveBudgets(budgets: DeviceBudgets): Promise<void> {
    return this.settings.saveBudgets(budgets);
  }
  adminTokenHash(): Promise<string | undefined> {
    return this.settings.adminTokenHash();
  }
  adminTokenRetired(hash: string): Promise<boolean> {
    return this.settings.adminTokenRetired(hash);
  }
  setAdminTokenHash(hash: string): Promise<void> {
    return this.settings.setAdminTokenHash(hash);
  }
  bumpPolicyVersion(): Promise<number> {
    return this.settings.bumpPolicyVersion();
  }
  policyVersion(): Promise<number> {
    return this.settings.policyVersion();
  }

  // ---- events ----
  highSeq(deviceId: string, stream: string): Promise<number> {
    return this.events.highSeq(deviceId, stream);
  }
  ingestEvents(deviceId: string, stream: string, events: readonly EdgeEvent[], receivedAt: string): Promise<IngestResult> {
    return this.events.ingestEvents(deviceId, stream, events, receivedAt);
  }
  recordGatewayEvent(event: GatewayEventInput): Promise<void> {
    return this.events.recordGatewayEvent(event);
  }
  skipSeq(deviceId: string, stream: string, seq: number, at: string): Promise<number> {
    return this.events.skipSeq(deviceId, stream, seq, at);
  }
  queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    return this.events.queryEvents(query);
  }
  countEvents(query: { types: readonly string[]; sinceDay: string }): Promise<number> {
    return this.events.countEvents(query);
  }
  eventCountsByDay(query: { types: readonly string[]; sinceDay: string }): Promise<EventDayCount[]> {
    return this.events.eventCountsByDay(query);
  }
  pruneEvents(cutoff: string): Promise<number> {
    return this.events.pruneEvents(cutoff);
  }

  // ---- inventory ----
  replaceAppInventory(deviceId: string, stream: string, seq: number, apps: readonly InventoryApp[], at: string): Promise<InventoryResult> {
    return this.inventory.replaceAppInventory(deviceId, stream, seq, apps, at);
  }
  replaceMcpInventory(
    deviceId: string,
    stream: string,
    seq: number,
    servers: readonly InventoryMcpServer[],
    errors: readonly InventoryMcpError[],
    at: string,
  ): Promise<InventoryResult> {
    return this.inventory.replaceMcpInventory(deviceId, stream, seq, servers, errors, at);
  }
  deviceInventory(deviceId: string): Promise<{ apps: InventoryApp[]; mcpServers: InventoryMcpServer[]; mcpErrors: InventoryMcpError[] }> {
    return this.inventory.deviceInventory(deviceId);
  }
  mcpPlacements(fingerprints: readonly string[]): Promise<{ placements: McpPlacement[]; details: McpRedactedDetails[] }> {
    return this.inventory.mcpPlacements(fingerprints);
  }

  // ---- shared by replicas: challenges and console sessions ----
  challengeKey(): Promise<Buffer> {
    return this.challenges.challengeKey();
  }
  consumeChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean> {
    return this.challenges.consumeChallenge(challengeHash, expiresAt, now);
  }
  createConsoleSession(session: ConsoleSessionRecord, max: number): Promise<void> {
    return this.consoleSessions.createConsoleSession(session, max);
  }
  useConsoleSession(idHash: string, at: { now: number; idleBefore: number; createdBefore: number }, takeFlash: boolean): Promise<ConsoleSessionRecord | undefined> {
    return this.consoleSessions.useConsoleSession(idHash, at, takeFlash);
  }
  setConsoleFlash(idHash: string, flashJson: string | null): Promise<void> {
    return this.consoleSessions.setConsoleFlash(idHash, flashJson);
  }
  endConsoleSessions(where: { idHash: string } | { method: 'admin_token' | 'sso' } | { userId: string }): Promise<number> {
    return this.consoleSessions.endConsoleSessions(where);
  }
  countConsoleSessions(): Promise<number> {
    return this.consoleSessions.countConsoleSessions();
  }

  // ---- CA ----
  getCa(): Promise<CaRecord | undefined> {
    return this.ca.getCa();
  }
  saveCa(ca: CaRecord): Promise<void> {
    return this.ca.saveCa(ca);
  }

  // ---- SSO ----
  upsertSsoUser(input: { issuer: string; subject: string; email: string; name: string | null; groups: string[]; newUserId: string; at: string }): Promise<SsoUserRecord> {
    return this.sso.upsertSsoUser(input);
  }
  getSsoUser(id: string): Promise<SsoUserRecord | undefined> {
    return this.sso.getSsoUser(id);
  }
  listSsoUsers(): Promise<SsoUserRecord[]> {
    return this.sso.listSsoUsers();
  }
  setUserDisabled(id: string, disabledAt: string | null): Promise<void> {
    return this.sso.setUserDisabled(id, disabledAt);
  }
  assignVirtualKey(id: string, reference: string | null): Promise<void> {
    return this.sso.assignVirtualKey(id, reference);
  }
  ssoSeatDevices(userId: string): Promise<string[]> {
    return this.sso.ssoSeatDevices(userId);
  }
  signInSso(input: { deviceId: string; osUser: string; userId: string; keyId: string; at: string }): Promise<void> {
    return this.sso.signInSso(input);
  }
  signOutSso(deviceId: string, osUser: string, userId: string): Promise<void> {
    return this.sso.signOutSso(deviceId, osUser, userId);
  }
  signOutSsoUser(userId: string): Promise<void> {
    return this.sso.signOutSsoUser(userId);
  }
  virtualKeySignIns(deviceId: string): Promise<string[]> {
    return this.sso.virtualKeySignIns(deviceId);
  }
  createFamily(input: { id: string; userId: string; deviceId: string; osUser: string; at: string; absoluteExpiresAt: string; tokenHash: string }): Promise<void> {
    return this.sso.createFamily(input);
  }
  findRefreshToken(tokenHash: string): Promise<RefreshLookup | undefined> {
    return this.sso.findRefreshToken(tokenHash);
  }
  rotateRefreshToken(input: { oldHash: string; newHash: string; familyId: string; at: string }): Promise<boolean> {
    return this.sso.rotateRefreshToken(input);
  }
  getFamily(id: string): Promise<RefreshFamilyRecord | undefined> {
    return this.sso.getFamily(id);
  }
  revokeFamilies(where: { familyId?: string; userId?: string; deviceId?: string }, reason: string, at: string): Promise<RefreshFamilyRecord[]> {
    return this.sso.revokeFamilies(where, reason, at);
  }

  // ---- connected state ----
  recordConnection(deviceId: string, replicaId: string, at: string): Promise<void> {
    return this.connections.recordConnection(deviceId, replicaId, at);
  }
  connectionReplica(deviceId: string): Promise<string | undefined> {
    return this.connections.connectionReplica(deviceId);
  }
  heartbeatConnections(replicaId: string, at: string): Promise<number> {
    return this.connections.heartbeatConnections(replicaId, at);
  }
  endConnection(deviceId: string, replicaId: string): Promise<void> {
    return this.connections.endConnection(deviceId, replicaId);
  }
  endReplicaConnections(replicaId: string): Promise<number> {
    return this.connections.endReplicaConnections(replicaId);
  }
  connectedDeviceIds(freshSince: string): Promise<Set<string>> {
    return this.connections.connectedDeviceIds(freshSince);
  }

  ping(): Promise<void> {
    // One indexed read answers both questions: the file is readable, and the schema is the one this build migrates to.
    const row = this.db.prepare<[string], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?').get(GATEWAY_MIGRATIONS.component);
    const expected = GATEWAY_MIGRATIONS.migrations.length;
    if ((row?.v ?? 0) !== expected) return Promise.reject(new Error(`database schema is at gateway#${row?.v ?? 0}; this build expects gateway#${expected}`));
    return Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.retention?.stop();
    // Events recorded in the turn the store closes in are written, not lost.
    this.events.flushGatewayEvents();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }
}
