// The GatewayStore for several replicas: one PostgreSQL database (store_url) through a pg pool,
// composed of one module per aggregate (postgres/*.ts) owning its tables and queries, as the SQLite
// store is. Every multi-statement change runs in one transaction inside its module; migrations run at
// open under an advisory lock, so replicas starting together migrate once.
import { systemClock, type Clock, type Logger } from '../../../lib/index.ts';
import type { CatalogStatus, EdgeEvent, InventoryApp, InventoryMcpError, InventoryMcpServer, PolicySettings } from '../../../protocol/index.ts';
import { PgCaStore } from './postgres/ca.ts';
import { PgCatalogStore } from './postgres/catalog.ts';
import { PgConnectionStore } from './postgres/connections.ts';
import { PgDatabase } from './postgres/db.ts';
import { PgDeviceStore } from './postgres/devices.ts';
import { PgEventStore } from './postgres/events.ts';
import { PgInventoryStore } from './postgres/inventory.ts';
import { PgOutboxStreams } from './postgres/outbox-streams.ts';
import { migrate, PG_SCHEMA_VERSION } from './postgres/schema.ts';
import { PgSettingsStore } from './postgres/settings.ts';
import { PgSsoStore } from './postgres/sso.ts';
import { PgUserKeyStore } from './postgres/users-keys.ts';
import { PolicyListener } from './postgres/policy-listener.ts';
import { PgChallengeStore } from './postgres/challenges.ts';
import { PgConsoleSessionStore } from './postgres/console-sessions.ts';
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
  ReplicaMessage,
  SsoUserRecord,
  PolicyItem,
  StoredEvent,
  UserDecision,
  UserRecord,
  VirtualKeyRecord,
} from './types.ts';

export interface PostgresGatewayStoreOptions {
  /** `postgres://user@host:5432/db` without a password (config key `store_url`). */
  url: string;
  /** From an `env.NAME` reference; otherwise pg reads PGPASSWORD or ~/.pgpass itself. */
  password?: string | undefined;
  logger: Logger;
  /** Time of the rows the store stamps itself and of partition upkeep; tests pass a ManualClock. */
  clock?: Clock;
  /** Connections per replica. */
  poolSize?: number;
  /** When set, events older than this many days are pruned periodically (config `events_retention_days`). */
  eventsRetentionDays?: number | undefined;
}

export class PostgresGatewayStore implements GatewayStore {
  readonly db: PgDatabase;
  readonly keys: PgUserKeyStore;
  readonly devices: PgDeviceStore;
  readonly catalog: PgCatalogStore;
  readonly settings: PgSettingsStore;
  readonly events: PgEventStore;
  readonly inventory: PgInventoryStore;
  readonly ca: PgCaStore;
  readonly sso: PgSsoStore;
  readonly connections: PgConnectionStore;
  readonly challenges: PgChallengeStore;
  readonly consoleSessions: PgConsoleSessionStore;
  readonly policyListener: PolicyListener;
  /** The periodic prune and partition upkeep, when the store was opened with a retention. */
  retention: EventRetention | undefined;
  readonly #logger: Logger;
  readonly #clock: Clock;
  #closed = false;

  private constructor(db: PgDatabase, options: PostgresGatewayStoreOptions) {
    this.db = db;
    this.#logger = options.logger;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    const streams = new PgOutboxStreams();
    this.keys = new PgUserKeyStore(db, clock);
    this.devices = new PgDeviceStore(db, clock);
    this.catalog = new PgCatalogStore(db);
    this.settings = new PgSettingsStore(db, clock);
    this.events = new PgEventStore(db, streams, this.devices, clock);
    this.inventory = new PgInventoryStore(db, streams, this.catalog);
    this.ca = new PgCaStore(db);
    this.sso = new PgSsoStore(db);
    this.connections = new PgConnectionStore(db);
    this.challenges = new PgChallengeStore(db);
    this.consoleSessions = new PgConsoleSessionStore(db);
    this.policyListener = new PolicyListener({ config: db.clientConfig(), clock, logger: options.logger, readVersion: () => this.settings.policyVersion() });
  }

  /** Connects, migrates (one replica at a time) and makes this month's event partitions and the next. */
  static async open(options: PostgresGatewayStoreOptions): Promise<PostgresGatewayStore> {
    const logger = options.logger;
    const db = new PgDatabase({
      url: options.url,
      password: options.password,
      max: options.poolSize,
      onIdleError: (err) => logger.warn({ err: err.message }, 'gateway database: an idle connection failed; the pool reconnects'),
    });
    try {
      const applied = await db.session((client) => migrate(client));
      if (applied.length > 0) logger.info({ applied: applied.map((v) => `gateway-pg#${v}`) }, 'gateway database migrated');
      const store = new PostgresGatewayStore(db, options);
      await store.events.ensurePartitions(store.#clock.now());
      if (options.eventsRetentionDays !== undefined) {
        const events = { pruneEvents: (cutoff: string) => store.events.pruneEvents(cutoff), prepareEvents: (nowMs: number) => store.events.ensurePartitions(nowMs) };
        store.retention = new EventRetention({ events, days: options.eventsRetentionDays, clock: store.#clock, logger });
        store.retention.start();
      }
      return store;
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
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
    return this.#noted(this.catalog.setGlobalDecision(kind, id, status, at));
  }
  setUserDecision(kind: CatalogKind, id: string, userId: string, status: CatalogStatus | undefined, at: string): Promise<number> {
    return this.#noted(this.catalog.setUserDecision(kind, id, userId, status, at));
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
  async deleteCatalogItems(kind: CatalogKind, ids: readonly string[]): Promise<{ deleted: number; version: number | undefined }> {
    const result = await this.catalog.deleteCatalogItems(kind, ids);
    if (result.version !== undefined) this.policyListener.note(result.version);
    return result;
  }
  mergeCatalogItem(kind: CatalogKind, from: string, into: string): Promise<number | undefined> {
    return this.#noted(this.catalog.mergeCatalogItem(kind, from, into));
  }

  // ---- settings and policy version ----
  getSettings(): Promise<PolicySettings> {
    return this.settings.getSettings();
  }
  saveSettings(settings: PolicySettings): Promise<number> {
    return this.#noted(this.settings.saveSettings(settings));
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
    return this.#noted(this.settings.bumpPolicyVersion());
  }

  /** A version this replica committed: the listener then does not report its own notification back. */
  async #noted<V extends number | undefined>(write: Promise<V>): Promise<V> {
    const version = await write;
    if (version !== undefined) this.policyListener.note(version);
    return version;
  }

  /** Policy versions other replicas commit (LISTEN heimdall_policy), and any change missed while the listening connection was down. */
  onPolicyChange(listener: (version: number) => void): () => void {
    return this.policyListener.subscribe(listener);
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
  publishToReplicas(message: Exclude<ReplicaMessage, { type: 'missed' }>): Promise<void> {
    return this.connections.publish(message);
  }

  /** Messages on `heimdall_control` (LISTENed on the policy listener's connection), and `missed` after that connection came back. */
  onReplicaMessage(listener: (message: ReplicaMessage) => void): () => void {
    return this.policyListener.subscribeMessages(listener);
  }

  /** Readiness (`/readyz`): the database answers, and its schema is the one this build migrates to. */
  async ping(): Promise<void> {
    const row = await this.db.one<{ v: number | null }>('SELECT MAX(version) AS v FROM gw_migrations');
    const at = row?.v ?? 0;
    if (at !== PG_SCHEMA_VERSION) throw new Error(`database schema is at version ${at}; this build expects ${PG_SCHEMA_VERSION}`);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.retention?.stop();
    // Events recorded in the turn the store closes in are written, not lost.
    await this.events.flushGatewayEvents().catch((err: unknown) => this.#logger.error({ err }, 'gateway events could not be written at close'));
    await this.policyListener.close();
    await this.db.close();
    this.#logger.debug('gateway database pool closed');
  }
}
