// What the gateway keeps: the records, and one interface per aggregate. The embedded SQLite store
// implements them today; a Postgres store for several replicas can implement them one by one later
// (docs/gateway.md has the plan).
import type {
  CatalogStatus,
  EdgeEvent,
  InventoryApp,
  InventoryMcpError,
  InventoryMcpServer,
  PolicySettings,
} from '../../../protocol/index.ts';

export type CatalogKind = 'app' | 'mcp';

export interface UserRecord {
  id: string;
  email: string;
  createdAt: string;
}

export interface VirtualKeyRecord {
  id: string;
  userId: string;
  userEmail: string;
  name: string | null;
  /** The first characters of the key, for people to tell keys apart (`sk-bf-AbC1...`). */
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

export interface DeviceFacts {
  hostname: string;
  os: string;
  osVersion: string | null;
  arch: string | null;
  agentVersion: string | null;
}

export interface DeviceRecord extends DeviceFacts {
  id: string;
  ownerUserId: string;
  ownerEmail: string;
  enrolledAt: string;
  lastSeenAt: string | null;
  revokedAt: string | null;
  /** Users the agent reported in its last hello (`os_user`, claimed `user_id`). */
  reportedUsers: { os_user: string; user_id?: string | undefined }[];
  /** The device key bound at first enrollment (SPKI DER, base64); null before that or after an admin reset. */
  publicKey: string | null;
}

/** An OS user signed in on a device through a virtual key. */
export interface DeviceUserRecord {
  osUser: string;
  userId: string;
  userEmail: string;
  keyId: string;
  signedInAt: string;
}

/** A device token's verified identity: the device that proved its key. People are not part of it. */
export interface DeviceTokenIdentity {
  tokenId: string;
  deviceId: string;
  expiresAt: string;
  /** Why the token cannot be used, when it cannot. */
  refused?: 'device_revoked' | 'token_expired';
}

export interface CatalogItemRecord {
  kind: CatalogKind;
  /** App id or MCP fingerprint. */
  id: string;
  displayName: string | null;
  status: CatalogStatus;
  firstSeenAt: string;
  lastSeenAt: string;
  decidedAt: string | null;
  /** Devices where the item is currently reported or was requested. */
  fleetCount: number;
  /** For MCP servers: the app and transport last reported. */
  app: string | null;
  transport: string | null;
  userDecisions: { userId: string; userEmail: string; status: CatalogStatus; decidedAt: string }[];
}

/** A catalog item as the policy snapshot needs it. */
export interface PolicyItem {
  kind: CatalogKind;
  id: string;
  displayName: string | null;
  status: CatalogStatus;
}

export interface UserDecision {
  kind: CatalogKind;
  itemId: string;
  userId: string;
  status: CatalogStatus;
}

export interface CatalogSighting {
  kind: CatalogKind;
  id: string;
  displayName?: string | undefined;
  app?: string | undefined;
  transport?: string | undefined;
}

export interface StoredEvent {
  id: number;
  source: 'agent' | 'gateway';
  deviceId: string | null;
  seq: number | null;
  type: string;
  at: string;
  app: string | null;
  osUser: string | null;
  userId: string | null;
  attrs: Record<string, string | number | boolean | null>;
  receivedAt: string;
}

export interface EventQuery {
  deviceId?: string | undefined;
  /** The gateway user's events: inference under their keys, and agent events of their OS users. */
  userId?: string | undefined;
  app?: string | undefined;
  type?: string | undefined;
  since?: string | undefined;
  /** Return events with an id below this (newest first paging). */
  beforeId?: number | undefined;
  limit: number;
}

/** An audit event recorded by the gateway itself (an inference request). */
export interface GatewayEventInput {
  type: string;
  at: string;
  deviceId?: string | null | undefined;
  app?: string | null | undefined;
  userId?: string | null | undefined;
  attrs: Record<string, string | number | boolean | null>;
}

export interface CaRecord {
  certPem: string;
  keyPem: string;
  source: 'generated' | 'uploaded';
  createdAt: string;
}

export interface IngestResult {
  /** Newly stored (duplicates and replays excluded). */
  stored: number;
  /** Highest seq stored for the stream after this call. */
  highSeq: number;
}

export interface InventoryResult {
  /** False when the report was a replay of (or older than) one already stored. */
  applied: boolean;
  highSeq: number;
  /** Catalog items seen for the first time: they are new pending entries of the policy. */
  newItems: number;
}

/** A page of devices (the console): ordered by hostname then id, after a keyset cursor. */
export interface DevicePageQuery {
  /** Part of a hostname or of the owner's email, case-insensitive. */
  search?: string | undefined;
  os?: string | undefined;
  /** The last row of the previous page. */
  after?: { hostname: string; id: string } | undefined;
  limit: number;
}

/** A page of a catalog (the console). */
export interface CatalogPageQuery {
  status?: CatalogStatus | undefined;
  /** Part of the id, display name or app, case-insensitive. */
  search?: string | undefined;
  /** The last id of the previous page. */
  after?: string | undefined;
  limit: number;
}

/** What the fleet overview counts per device. */
export interface DeviceStatusRow {
  id: string;
  os: string;
  revoked: boolean;
}

/** Events of one type per app and UTC day (the console's chart). */
export interface EventDayCount {
  app: string | null;
  /** `YYYY-MM-DD` (UTC). */
  day: string;
  count: number;
}

/** Where an MCP server appears across the fleet: per app and config scope, on how many devices. */
export interface McpPlacement {
  fingerprint: string;
  app: string;
  scope: string;
  devices: number;
}

/** One device's report of an MCP server, as agents send it (already redacted by them). */
export interface McpRedactedDetails {
  fingerprint: string;
  name: string;
  transport: string;
  command: string | null;
  args: string[];
  url: string | null;
  envKeys: string[];
  headerKeys: string[];
}

// What the control plane stores, one interface per aggregate. Methods are async so a networked
// database can implement them; the SQLite modules (sqlite/*.ts) answer synchronously inside. A store
// for another database implements each aggregate and composes them like sqlite-store.ts.

/** Users and their virtual keys. */
export interface UserKeyStore {
  ensureUser(email: string): Promise<UserRecord>;
  findUser(idOrEmail: string): Promise<UserRecord | undefined>;
  createVirtualKey(input: { id: string; userId: string; keyHash: string; prefix: string; name: string | null }): Promise<VirtualKeyRecord>;
  findVirtualKeyByHash(keyHash: string): Promise<VirtualKeyRecord | undefined>;
  touchVirtualKey(id: string, at: string): Promise<void>;
  listVirtualKeys(): Promise<VirtualKeyRecord[]>;
  /** Returns the key, or undefined when it does not exist. Revoking twice keeps the first time. */
  revokeVirtualKey(id: string): Promise<VirtualKeyRecord | undefined>;
}

/** Devices, their keys, who is signed in on them, and their short-lived device tokens. */
export interface DeviceStore {
  /** Creates the device (binding `publicKey`) or updates its facts; signs `osUser` in through the key. Never changes the owner or a bound key. */
  enrollDevice(input: { deviceId: string; facts: DeviceFacts; publicKey: string; osUser: string; userId: string; keyId: string }): Promise<DeviceRecord>;
  deviceByPublicKey(publicKey: string): Promise<DeviceRecord | undefined>;
  issueDeviceToken(input: { tokenId: string; tokenHash: string; deviceId: string; expiresAt: string }): Promise<void>;
  findDeviceToken(tokenHash: string): Promise<DeviceTokenIdentity | undefined>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(): Promise<DeviceRecord[]>;
  updateDeviceFromHello(id: string, facts: DeviceFacts, reportedUsers: DeviceRecord['reportedUsers'], at: string): Promise<void>;
  touchDevice(id: string, at: string): Promise<void>;
  revokeDevice(id: string): Promise<DeviceRecord | undefined>;
  resetDevice(id: string): Promise<DeviceRecord | undefined>;
  /** Devices where someone is signed in through this virtual key. */
  devicesEnrolledWithKey(keyId: string): Promise<string[]>;
  /** Removes every sign-in made through the key; returns the devices it was signed in on. */
  signOutKey(keyId: string): Promise<string[]>;
  deviceUsers(deviceId: string): Promise<DeviceUserRecord[]>;
  /** OS user -> gateway user id for the device's sign-ins whose key is not revoked. */
  deviceUserMap(deviceId: string): Promise<Map<string, string>>;
  /** A page of devices with a search, an OS filter and a keyset cursor (the console's list of 10,000). */
  devicePage(query: DevicePageQuery): Promise<DeviceRecord[]>;
  /** Every device's OS and whether it is revoked (the overview's counts). */
  deviceStatusRows(): Promise<DeviceStatusRow[]>;
}

/** The app and MCP catalogs, their sightings and the global and per-user decisions. */
export interface CatalogStore {
  /** Records sightings; unknown items become pending. Returns how many items are new. */
  recordSightings(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): Promise<number>;
  listCatalog(kind: CatalogKind): Promise<CatalogItemRecord[]>;
  getCatalogItem(kind: CatalogKind, id: string): Promise<CatalogItemRecord | undefined>;
  // The writes that change the policy bump its version in their own transaction and return the new
  // version: a crash or a lost database between a change and its bump would leave a change no agent hears of.
  /** Returns the new policy version. */
  setGlobalDecision(kind: CatalogKind, id: string, status: CatalogStatus, at: string): Promise<number>;
  /** `status` undefined removes the user's decision. Returns the new policy version. */
  setUserDecision(kind: CatalogKind, id: string, userId: string, status: CatalogStatus | undefined, at: string): Promise<number>;
  /** The items the policy snapshot carries: decided globally or for some user (never plain pending ones). */
  policyItems(): Promise<PolicyItem[]>;
  /** Catalog items this device was the first to report (or request) that are still in the catalog. */
  itemsAddedBy(deviceId: string): Promise<number>;
  /** How many of these ids the catalog of `kind` does not hold yet. */
  countUnknown(kind: CatalogKind, ids: readonly string[]): Promise<number>;
  /** Removes items with their sightings and decisions; returns how many existed and, when some did, the new policy version. */
  deleteCatalogItems(kind: CatalogKind, ids: readonly string[]): Promise<{ deleted: number; version: number | undefined }>;
  /**
   * Folds `from` into `into` (created when missing): sightings and per-user decisions move (the
   * target's own win), `from` disappears. Returns the new policy version, or undefined (nothing
   * changed) when `from` does not exist.
   */
  mergeCatalogItem(kind: CatalogKind, from: string, into: string): Promise<number | undefined>;
  userDecisions(): Promise<UserDecision[]>;
  /** A page of one catalog by id after a keyset cursor, with a status and a search (id, name, app), and how many match. */
  catalogPage(kind: CatalogKind, query: CatalogPageQuery): Promise<{ items: CatalogItemRecord[]; total: number }>;
  /** How many items of each kind have each global status. */
  catalogCounts(): Promise<{ kind: CatalogKind; status: CatalogStatus; count: number }[]>;
}

/**
 * What one device may add, enforced when its messages are ingested (docs/gateway.md states the
 * defaults and why they are where they are). Gateway settings: never sent to agents with the policy.
 */
export interface DeviceBudgets {
  /** Largest agent message, in bytes (at most the protocol's 1 MiB). */
  message_bytes: number;
  /** Apps in one `inventory.apps` report. */
  inventory_apps: number;
  /** MCP servers in one `inventory.mcp` report. */
  inventory_mcp: number;
  /** Catalog items (apps and MCP servers together) a device may have added and still in the catalog. */
  catalog_items: number;
  /** Sustained events per minute, and the burst a device may send at once (an outbox drained after a day offline). */
  events_per_minute: number;
  events_burst: number;
}

/** Policy settings, the gateway's own settings (device budgets) and the policy version. */
export interface SettingsStore {
  getSettings(): Promise<PolicySettings>;
  /** Returns the new policy version, bumped in the same transaction. */
  saveSettings(settings: PolicySettings): Promise<number>;
  getBudgets(): Promise<DeviceBudgets>;
  saveBudgets(budgets: DeviceBudgets): Promise<void>;
  /** The admin token's hash (its one plaintext copy is the 0600 file in the data dir). */
  adminTokenHash(): Promise<string | undefined>;
  /** Replaces the admin token's hash; the one it replaces is remembered as retired (never accepted again at a start). */
  setAdminTokenHash(hash: string): Promise<void>;
  /** Whether `hash` is an admin token's hash that a rotation replaced. */
  adminTokenRetired(hash: string): Promise<boolean>;
  /**
   * Increments and returns the policy version, in its own transaction: for changes that are not a
   * policy write themselves (a device's users changed). Policy writes bump in their own transaction.
   */
  bumpPolicyVersion(): Promise<number>;
  policyVersion(): Promise<number>;
}

/** Audit events: ingested from the agents' outboxes (exactly once per seq) and the gateway's own. */
export interface EventStore {
  highSeq(deviceId: string, stream: string): Promise<number>;
  ingestEvents(deviceId: string, stream: string, events: readonly EdgeEvent[], receivedAt: string): Promise<IngestResult>;
  recordGatewayEvent(event: GatewayEventInput): Promise<void>;
  /** Marks outbox seqs up to `seq` handled without storing them (a message over a device budget); returns the high seq. */
  skipSeq(deviceId: string, stream: string, seq: number, at: string): Promise<number>;
  queryEvents(query: EventQuery): Promise<StoredEvent[]>;
  /** Events of these types on `sinceDay` (`YYYY-MM-DD`, UTC) or later. */
  countEvents(query: { types: readonly string[]; sinceDay: string }): Promise<number>;
  /** Events of these types on `sinceDay` or later, counted per app and UTC day. */
  eventCountsByDay(query: { types: readonly string[]; sinceDay: string }): Promise<EventDayCount[]>;
  /** Retention: removes events whose time is before `cutoff` (ISO) and the day counts of days before its day; returns how many events went. */
  pruneEvents(cutoff: string): Promise<number>;
}

/** Each device's last app and MCP inventory; a report also refreshes the catalog's sightings. */
export interface InventoryStore {
  replaceAppInventory(deviceId: string, stream: string, seq: number, apps: readonly InventoryApp[], at: string): Promise<InventoryResult>;
  replaceMcpInventory(
    deviceId: string,
    stream: string,
    seq: number,
    servers: readonly InventoryMcpServer[],
    errors: readonly InventoryMcpError[],
    at: string,
  ): Promise<InventoryResult>;
  deviceInventory(deviceId: string): Promise<{ apps: InventoryApp[]; mcpServers: InventoryMcpServer[]; mcpErrors: InventoryMcpError[] }>;
  /** For these MCP fingerprints: the apps and scopes each appears in, and one redacted report of each. */
  mcpPlacements(fingerprints: readonly string[]): Promise<{ placements: McpPlacement[]; details: McpRedactedDetails[] }>;
}

/** The gateway-held interception CA. */
export interface CaStore {
  getCa(): Promise<CaRecord | undefined>;
  saveCa(ca: CaRecord): Promise<void>;
}

/** A gateway user as SSO sees them: the attributes of their last sign-in and the administrator's marks. */
export interface SsoUserRecord {
  id: string;
  email: string;
  name: string | null;
  createdAt: string;
  /** Set by an administrator: no sign-in, refresh or token works while it is. */
  disabledAt: string | null;
  /** An administrator's `env.NAME` reference to the virtual key this user gets (beats the group mapping). */
  assignedVirtualKey: string | null;
  /** Groups from the IdP at the last sign-in. */
  groups: string[];
  /** The IdP issuer of the last sign-in; null for users only ever made by an administrator. */
  issuer: string | null;
}

/** One sign-in of one OS user on one device: its refresh tokens rotate within it. */
export interface RefreshFamilyRecord {
  id: string;
  userId: string;
  deviceId: string;
  osUser: string;
  createdAt: string;
  lastUsedAt: string;
  absoluteExpiresAt: string;
  revokedAt: string | null;
  revokedReason: string | null;
}

export interface RefreshLookup {
  family: RefreshFamilyRecord;
  /** Set when this token was already exchanged: presenting it again is a replay. */
  rotatedAt: string | null;
}

/** People signed in through the organization's IdP, their device sign-ins and their refresh tokens. */
export interface SsoStore {
  /** Creates or updates the user of an IdP identity (issuer + subject); `newUserId` is used when a user is created. */
  upsertSsoUser(input: { issuer: string; subject: string; email: string; name: string | null; groups: string[]; newUserId: string; at: string }): Promise<SsoUserRecord>;
  getSsoUser(id: string): Promise<SsoUserRecord | undefined>;
  listSsoUsers(): Promise<SsoUserRecord[]>;
  setUserDisabled(id: string, disabledAt: string | null): Promise<void>;
  assignVirtualKey(id: string, reference: string | null): Promise<void>;
  /** Devices (not revoked) the user is signed in on through SSO: their seats. */
  ssoSeatDevices(userId: string): Promise<string[]>;
  /** Records the OS user's SSO sign-in on the device (policy exceptions and event attribution follow it). */
  signInSso(input: { deviceId: string; osUser: string; userId: string; keyId: string; at: string }): Promise<void>;
  signOutSso(deviceId: string, osUser: string, userId: string): Promise<void>;
  signOutSsoUser(userId: string): Promise<void>;
  /** The virtual keys signed in on the device with `heimdall login --virtual-key` (not SSO's group keys). */
  virtualKeySignIns(deviceId: string): Promise<string[]>;
  createFamily(input: { id: string; userId: string; deviceId: string; osUser: string; at: string; absoluteExpiresAt: string; tokenHash: string }): Promise<void>;
  findRefreshToken(tokenHash: string): Promise<RefreshLookup | undefined>;
  /** Marks the old token rotated and stores the new one; false when the old one was already rotated (a race or a replay). */
  rotateRefreshToken(input: { oldHash: string; newHash: string; familyId: string; at: string }): Promise<boolean>;
  getFamily(id: string): Promise<RefreshFamilyRecord | undefined>;
  /** Revokes the live families matching one criterion; returns them. */
  revokeFamilies(where: { familyId?: string; userId?: string; deviceId?: string }, reason: string, at: string): Promise<RefreshFamilyRecord[]>;
}

/**
 * Which replica holds each device's websocket (table `device_connections`; the issue's "device
 * sessions", a name the device-token table already has), kept fresh by heartbeats. Same table and
 * code path on SQLite, where the one process is the only replica.
 */
export interface ConnectionStore {
  /**
   * Records that `replicaId` holds the device's connection from `at` (replacing another replica's
   * row: the newer connection wins). PostgreSQL tells the other replicas in the same transaction
   * (a `superseded` replica message), so the one holding an older socket closes it.
   */
  recordConnection(deviceId: string, replicaId: string, at: string): Promise<void>;
  /** The replica the table says holds the device's connection, if any. */
  connectionReplica(deviceId: string): Promise<string | undefined>;
  /** One statement for every row of the replica (one write per heartbeat period, not per device); returns the rows. */
  heartbeatConnections(replicaId: string, at: string): Promise<number>;
  /** Removes the device's row if `replicaId` still holds it (a newer connection elsewhere keeps its row). */
  endConnection(deviceId: string, replicaId: string): Promise<void>;
  /** Removes every row of the replica (clean close, drain); returns how many. */
  endReplicaConnections(replicaId: string): Promise<number>;
  /** Devices whose row's heartbeat is at or after `freshSince`, on any replica. */
  connectedDeviceIds(freshSince: string): Promise<Set<string>>;
}

/**
 * What one replica tells the others (PostgreSQL: NOTIFY `heimdall_control`, JSON). `origin` is the
 * sender's replica id, so a replica ignores its own. `missed` is the listener's own: its connection
 * was lost and is back, so notifications sent meanwhile are gone.
 */
export type ReplicaMessage =
  | { type: 'revoked'; deviceId: string; origin: string }
  | { type: 'credentials'; origin: string }
  /** Device budgets changed (they are not part of the policy version). */
  | { type: 'budgets'; origin: string }
  | { type: 'superseded'; deviceId: string; origin: string }
  | { type: 'missed'; origin: '' };

/**
 * What replicas behind one load balancer must share to answer as one gateway (issue 21): the key
 * challenges are signed with and the challenges already used, so a challenge fetched from one replica
 * is answered on another, and used once across all of them.
 */
export interface ChallengeStore {
  /** The challenges' HMAC key: generated by the first replica to ask, the same for every replica after (never logged). */
  challengeKey(): Promise<Buffer>;
  /**
   * Marks a challenge (its hash) used until `expiresAt` (ms); false when it already was, on any
   * replica. Atomic; forgets the entries expired at `now` (they are refused for their expiry anyway).
   */
  consumeChallenge(challengeHash: string, expiresAt: number, now: number): Promise<boolean>;
}

/** A console session as stored: the cookie's id only as a hash; the administrator and flash as the console's JSON. */
export interface ConsoleSessionRecord {
  idHash: string;
  method: 'admin_token' | 'sso';
  /** The gateway user of an SSO session (so disabling them ends it). */
  userId: string | null;
  adminJson: string;
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  flashJson: string | null;
}

/** Console sessions, shared by the replicas (a console behind a balancer that is not sticky keeps its session). */
export interface ConsoleSessionStore {
  /** Stores a new session, then ends the least recently used beyond `max`. */
  createConsoleSession(session: ConsoleSessionRecord, max: number): Promise<void>;
  /**
   * The session, marked used at `now`; undefined when unknown or expired (last used at or before
   * `idleBefore`, or created at or before `createdBefore`: expired ones are removed). `takeFlash`
   * clears the flash it returns (a page shows it once).
   */
  useConsoleSession(idHash: string, at: { now: number; idleBefore: number; createdBefore: number }, takeFlash: boolean): Promise<ConsoleSessionRecord | undefined>;
  setConsoleFlash(idHash: string, flashJson: string | null): Promise<void>;
  /** Ends one session, every session of a method, or every SSO session of a user; returns how many. */
  endConsoleSessions(where: { idHash: string } | { method: 'admin_token' | 'sso' } | { userId: string }): Promise<number>;
  countConsoleSessions(): Promise<number>;
}

/** Everything the control plane stores: the aggregates, composed. */
export interface GatewayStore
  extends UserKeyStore, DeviceStore, CatalogStore, SettingsStore, EventStore, InventoryStore, CaStore, SsoStore, ConnectionStore, ChallengeStore, ConsoleSessionStore {
  /**
   * Policy versions committed by other replicas sharing the database (PostgreSQL: LISTEN/NOTIFY),
   * reported once each and only when newer; absent on a store only one process uses (SQLite).
   */
  onPolicyChange?(listener: (version: number) => void): () => void;
  /** Sends a message to every replica sharing the database (itself included); absent on SQLite. */
  publishToReplicas?(message: Exclude<ReplicaMessage, { type: 'missed' }>): Promise<void>;
  /** Messages from the replicas (its own included), on the policy listener's connection; absent on SQLite. */
  onReplicaMessage?(listener: (message: ReplicaMessage) => void): () => void;
  /**
   * Readiness (`/readyz`): resolves when the database answers and its schema is at the migration
   * version this build expects; rejects otherwise. Cheap: load balancers call it every few seconds.
   * Optional: without it the gateway's readiness reads the policy version instead.
   */
  ping?(): Promise<void>;
  close(): Promise<void>;
}
