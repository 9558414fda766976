// The control plane's verbs, shared by the admin API, enrollment and the websocket hub: every change
// to catalogs or settings bumps the policy version and tells listeners (the hub) whom it affects.
import { systemClock, type Clock, type Logger } from '../../../lib/index.ts';
import { checkDevicePublicKey, deviceProofText, INTERCEPTED_HOSTS, TIMING, verifyDeviceProof } from '../../../protocol/index.ts';
import type {
  ApprovalRequestMessage,
  ChallengeResponse,
  CatalogStatus,
  EdgeEvent,
  EnrollRequest,
  EnrollResponse,
  HelloMessage,
  InventoryAppsMessage,
  InventoryMcpMessage,
  PolicySettings,
  TokenRequest,
  TokenResponse,
} from '../../../protocol/index.ts';
import type {
  CaRecord,
  CatalogItemRecord,
  CatalogKind,
  DeviceBudgets,
  DeviceRecord,
  DeviceTokenIdentity,
  EventQuery,
  GatewayEventInput,
  GatewayStore,
  ReplicaMessage,
  VirtualKeyRecord,
} from '../store/index.ts';
import { BudgetEventThrottle, EventRate, overBudget, type OverBudget } from './budgets.ts';
import { BUILT_IN_APP_IDS, unknownIdMessage } from './catalog-ids.ts';
import { ChallengeIssuer } from './challenges.ts';
import { checkUploadedCa, describeCaRecord, generateCa, signLeaf, type CaInfo, type LeafResult } from './ca.ts';
import { ControlError } from './errors.ts';
import { buildSnapshot, hasExceptions, indexUserDecisions, policyMessageText, type PolicyBase } from './policy.ts';
import { hashSecret, newDeviceToken, newId, newVirtualKey, VIRTUAL_KEY_PREFIX } from './secrets.ts';
import { VerifiedCredentials } from './verified-credentials.ts';

export type ControlEvent =
  /** The policy changed for every device (`userIds` undefined) or for devices with these users. */
  | { type: 'policy'; version: number; userIds?: readonly string[] }
  /** Connections of this device must close now. */
  | { type: 'revoked'; deviceId: string }
  /**
   * A device, virtual key, person or device token was revoked, disabled or reset (here or on another
   * replica, or notifications from the others may have been lost): caches of credentials must go.
   */
  | { type: 'credentials' }
  /** Another replica accepted a newer connection of this device: one held here is the older one. */
  | { type: 'superseded'; deviceId: string };

/** What ingesting an outbox message did: the seq to acknowledge, and the budget it exceeded, if any. */
export interface IngestOutcome {
  highSeq: number;
  over?: OverBudget;
}

export interface SettingsPatch {
  pending_action?: PolicySettings['pending_action'];
  fail_mode?: PolicySettings['fail_mode'];
  intercept?: boolean;
  /** `null` removes an app's routing mode (back to the default, `gateway`). */
  routing?: Record<string, 'gateway' | 'passthrough' | null>;
  full_resync_s?: number;
  allow_direct_keys?: boolean;
  /** `true` requires a verified identity for the app before agents allow it; `false` lifts it. */
  require_verified?: Record<string, boolean>;
}

/** Identity of an inference caller, as the inference routes need it. */
export interface VirtualKeyIdentity {
  keyId: string;
  userId: string;
  userEmail?: string;
  deviceId?: string;
}

export interface ControlPlaneOptions {
  store: GatewayStore;
  logger: Logger;
  /** Time of every record the control plane stamps (last seen, decisions, events); tests pass a ManualClock. */
  clock?: Clock;
  /** Lifetime of a device token (default the protocol's 15 minutes). */
  deviceTokenTtlMs?: number;
  /** Whether `/edge/v1/enroll` with a virtual key is allowed (the org setting `sso.allow_virtual_key_login`; default true). */
  virtualKeyLogin?: boolean;
  /** Settings from the gateway config that agents receive in the policy (`unattributed`). */
  configSettings?: Partial<PolicySettings>;
}

/** A device's enrollment facts and key proof, as in the enroll request (virtual key or SSO sign-in). */
export type DeviceEnrollmentRequest = Pick<EnrollRequest, 'device' | 'device_key' | 'os_user'>;

/** The device an inference request's device token proves, or why the token is refused. */
export type InferenceDevice = { ok: true; deviceId: string } | { ok: false; status: 401 | 403; message: string };

const EXACT_LEAF_HOSTS: ReadonlySet<string> = new Set(INTERCEPTED_HOSTS);

/** The audit event type of a person's request for an app (with their reason). */
export const APPROVAL_REQUESTED_EVENT = 'approval.requested';

export interface ApprovalQueueItem {
  kind: 'app' | 'mcp';
  id: string;
  displayName: string | null;
  fleetCount: number;
  firstSeenAt: string;
  requests: { at: string; deviceId: string | null; hostname: string | null; osUser: string | null; userId: string | null; userEmail: string | null; reason: string }[];
}

export class ControlPlane {
  readonly store: GatewayStore;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #listeners = new Set<(event: ControlEvent) => void>();
  #base: Promise<PolicyBase> | undefined;
  #baseText: { version: number; text: string } | undefined;
  #keyTouches = new Map<string, number>();
  #settings: PolicySettings | undefined;
  readonly #challenges: ChallengeIssuer;
  readonly #tokenTtlMs: number;
  readonly #virtualKeyLogin: boolean;
  readonly #configSettings: Partial<PolicySettings>;
  #budgets: DeviceBudgets | undefined;
  readonly #eventRate = new EventRate();
  readonly #budgetEvents = new BudgetEventThrottle();
  /** Virtual keys and device tokens the inference path verified, by hash; cleared on every `credentials` event. */
  readonly #verifiedKeys: VerifiedCredentials<VirtualKeyIdentity>;
  readonly #verifiedDevices: VerifiedCredentials<string>;
  /** This process among the replicas sharing the database: random per start (rows of `device_connections`, origin of replica messages). */
  readonly replicaId = newId('replica');
  readonly #unsubscribe: (() => void)[] = [];

  constructor(options: ControlPlaneOptions) {
    this.store = options.store;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#challenges = new ChallengeIssuer(this.store, this.#clock, TIMING.challengeTtlS * 1000);
    this.#tokenTtlMs = options.deviceTokenTtlMs ?? TIMING.deviceTokenTtlS * 1000;
    this.#virtualKeyLogin = options.virtualKeyLogin ?? true;
    this.#configSettings = options.configSettings ?? {};
    this.#verifiedKeys = new VerifiedCredentials(this.#clock);
    this.#verifiedDevices = new VerifiedCredentials(this.#clock);
    // Through the listeners, not a direct call: the same event arriving from another replica clears it too.
    this.onEvent((event) => {
      if (event.type !== 'credentials') return;
      this.#verifiedKeys.clear();
      this.#verifiedDevices.clear();
    });
  }

  /** Whether the organization lets people sign in with a virtual key (`heimdall login --virtual-key`). */
  virtualKeyLoginAllowed(): boolean {
    return this.#virtualKeyLogin;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /** Loads what the synchronous getters need; call once before serving. */
  async start(): Promise<void> {
    this.#settings = await this.store.getSettings();
    this.#budgets = await this.store.getBudgets();
    if (this.store.onPolicyChange) this.#unsubscribe.push(this.store.onPolicyChange((version) => void this.#otherReplicaChangedPolicy(version)));
    if (this.store.onReplicaMessage) this.#unsubscribe.push(this.store.onReplicaMessage((message) => this.#fromReplica(message)));
  }

  /** Stops hearing other replicas (before the store closes). */
  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  /**
   * Another replica committed a policy change: what this one cached from the database (the policy
   * base, settings, budgets) may be stale; re-read it, then push as for a change made here.
   */
  async #otherReplicaChangedPolicy(version: number): Promise<void> {
    this.#base = undefined;
    this.#baseText = undefined;
    try {
      this.#settings = await this.store.getSettings();
      this.#budgets = await this.store.getBudgets();
    } catch (err) {
      // The push still goes out: the snapshot is read again per push, and settings at the next change.
      this.#logger.error({ err }, 'could not re-read settings and budgets after another replica changed the policy');
    }
    this.#logger.info({ version }, 'policy changed on another replica');
    this.#emit({ type: 'policy', version });
  }

  /** A message from a replica sharing the database becomes the same local event (this replica's own are ignored). */
  #fromReplica(message: ReplicaMessage): void {
    if (message.origin === this.replicaId) return;
    if (message.type === 'missed') {
      this.#logger.warn('replica notifications may have been lost while the listening connection was down: dropping cached credentials');
      this.#emit({ type: 'credentials' });
      return;
    }
    if (message.type === 'budgets') {
      void this.store.getBudgets().then(
        (budgets) => (this.#budgets = budgets),
        (err: unknown) => this.#logger.error({ err }, 'could not re-read the budgets another replica changed'),
      );
      return;
    }
    if (message.type === 'credentials') this.#emit({ type: 'credentials' });
    else this.#emit({ type: message.type, deviceId: message.deviceId });
  }

  /** Emits a revocation or credentials change here and sends it to the other replicas (after the change committed). */
  async #announce(event: Extract<ControlEvent, { type: 'revoked' | 'credentials' }>): Promise<void> {
    this.#emit(event);
    if (!this.store.publishToReplicas) return;
    try {
      await this.store.publishToReplicas({ ...event, origin: this.replicaId });
    } catch (err) {
      // The change is committed; other replicas learn it at their listener's next reconnect (`missed`).
      this.#logger.error({ err, event: event.type }, 'could not tell the other replicas');
    }
  }

  /**
   * Credentials changed outside the control plane's verbs (a person disabled, a sign-in ended, in
   * the SSO room): drop caches here and on the other replicas.
   */
  credentialsChanged(): Promise<void> {
    return this.#announce({ type: 'credentials' });
  }

  /** The device budgets in force (synchronous: the hub asks on every message). */
  budgets(): DeviceBudgets {
    if (!this.#budgets) throw new Error('ControlPlane.start() was not called');
    return this.#budgets;
  }

  async updateBudgets(patch: Partial<DeviceBudgets>): Promise<DeviceBudgets> {
    const next: DeviceBudgets = { ...(await this.store.getBudgets()), ...patch };
    await this.store.saveBudgets(next);
    this.#budgets = next;
    // Budgets are not in the policy (no version bump): the other replicas are told to re-read them.
    await this.store.publishToReplicas?.({ type: 'budgets', origin: this.replicaId }).catch((err: unknown) => this.#logger.error({ err }, 'could not tell the other replicas the budgets changed'));
    this.#logger.info({ budgets: next }, 'device budgets changed');
    return next;
  }

  onEvent(listener: (event: ControlEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(event: ControlEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#logger.error({ err }, 'control event listener failed');
      }
    }
  }

  /** A device's users changed (not a policy write): bumps the version in its own transaction, then tells the hub. */
  async #policyChanged(userIds?: readonly string[]): Promise<number> {
    const version = await this.store.bumpPolicyVersion();
    this.#policyCommitted(version, userIds);
    return version;
  }

  /** A policy write committed with its version bumped in the same transaction: drop the cached snapshot and tell the hub. */
  #policyCommitted(version: number, userIds?: readonly string[]): number {
    this.#base = undefined;
    this.#baseText = undefined;
    this.#emit(userIds ? { type: 'policy', version, userIds } : { type: 'policy', version });
    return version;
  }

  // ---- policy snapshots ----

  #policyBase(): Promise<PolicyBase> {
    this.#base ??= (async () => {
      const [version, items, settings, decisions] = await Promise.all([
        this.store.policyVersion(),
        this.store.policyItems(),
        this.store.getSettings(),
        this.store.userDecisions(),
      ]);
      return { version, issuedAt: this.#nowIso(), items, settings: { ...settings, ...this.#configSettings }, decisionsByUser: indexUserDecisions(decisions) };
    })();
    const pending = this.#base;
    // A failed read must not stay cached.
    pending.catch(() => {
      if (this.#base === pending) this.#base = undefined;
    });
    return pending;
  }

  /** The `policy` message text for a device, and its version. Devices without user exceptions share one text. */
  async policyMessageFor(deviceId: string): Promise<{ version: number; text: string }> {
    const base = await this.#policyBase();
    const users = base.decisionsByUser.size > 0 ? await this.store.deviceUserMap(deviceId) : new Map<string, string>();
    if (!hasExceptions(base, users)) {
      if (this.#baseText?.version !== base.version) this.#baseText = { version: base.version, text: policyMessageText(buildSnapshot(base, new Map())) };
      return this.#baseText;
    }
    return { version: base.version, text: policyMessageText(buildSnapshot(base, users)) };
  }

  async policyVersion(): Promise<number> {
    return (await this.#policyBase()).version;
  }

  // ---- settings ----

  getSettings(): Promise<PolicySettings> {
    return this.store.getSettings();
  }

  async updateSettings(patch: SettingsPatch): Promise<PolicySettings> {
    const current = await this.store.getSettings();
    const next: PolicySettings = { ...current, routing: { ...current.routing } };
    if (patch.pending_action !== undefined) next.pending_action = patch.pending_action;
    if (patch.fail_mode !== undefined) next.fail_mode = patch.fail_mode;
    if (patch.intercept !== undefined) next.intercept = patch.intercept;
    if (patch.full_resync_s !== undefined) next.full_resync_s = patch.full_resync_s;
    if (patch.allow_direct_keys !== undefined) next.allow_direct_keys = patch.allow_direct_keys;
    for (const [app, mode] of Object.entries(patch.routing ?? {})) {
      // Removing a mode set earlier is always allowed, whatever its app id.
      if (!(mode === null && app in current.routing)) await this.#requireKnown('app', app, `routing.${app}`, 'invalid');
    }
    for (const [app, mode] of Object.entries(patch.routing ?? {})) {
      if (mode === null) delete next.routing[app];
      else next.routing[app] = mode;
    }
    const required = new Set(current.require_verified ?? []);
    for (const [app, on] of Object.entries(patch.require_verified ?? {})) {
      // Lifting a requirement is always allowed; requiring one for an id nobody knows is a typo.
      if (on) await this.#requireKnown('app', app, `require_verified.${app}`, 'invalid');
      if (on) required.add(app);
      else required.delete(app);
    }
    next.require_verified = [...required].sort();
    const version = await this.store.saveSettings(next);
    this.#settings = next;
    this.#policyCommitted(version);
    this.#logger.info({ settings: next }, 'settings changed');
    return next;
  }

  // ---- catalogs ----

  listCatalog(kind: CatalogKind): Promise<CatalogItemRecord[]> {
    return this.store.listCatalog(kind);
  }

  /** Sets an item's global status, or one user's status when `user` (email or id) is given; `pending` for a user removes the exception. */
  async decide(kind: CatalogKind, id: string, status: CatalogStatus, user?: string): Promise<CatalogItemRecord> {
    await this.#requireKnown(kind, id, kind === 'app' ? 'id' : 'fingerprint');
    const at = this.#nowIso();
    if (user === undefined) {
      this.#policyCommitted(await this.store.setGlobalDecision(kind, id, status, at));
    } else {
      const found = await this.store.findUser(user);
      if (!found) throw new ControlError('not_found', `no user ${JSON.stringify(user)}: users appear when a virtual key is created for them`, 'user');
      this.#policyCommitted(await this.store.setUserDecision(kind, id, found.id, status === 'pending' ? undefined : status, at), [found.id]);
    }
    this.#logger.info({ kind, id, status, user }, 'catalog decision');
    return (await this.store.getCatalogItem(kind, id))!;
  }

  /** Refuses an id that is neither a built-in app nor in the catalog (a typo would create an entry no agent matches). */
  async #requireKnown(kind: CatalogKind, id: string, field: string, code: 'not_found' | 'invalid' = 'not_found'): Promise<void> {
    if (kind === 'app' && BUILT_IN_APP_IDS.includes(id)) return;
    if (await this.store.getCatalogItem(kind, id)) return;
    const reported = (await this.store.listCatalog(kind)).map((item) => item.id);
    throw new ControlError(code, unknownIdMessage(kind, id, reported), field);
  }

  /** Deletes catalog items (a flood of junk, a renamed tool); an item still installed comes back, pending, at its next report. */
  async deleteCatalogItems(kind: CatalogKind, ids: readonly string[]): Promise<number> {
    const { deleted, version } = await this.store.deleteCatalogItems(kind, ids);
    if (version !== undefined) this.#policyCommitted(version);
    this.#logger.info({ kind, requested: ids.length, deleted }, 'catalog items deleted');
    return deleted;
  }

  /** Folds `from` into `into`: devices and user exceptions move, `into` keeps its own decision. */
  async mergeCatalogItem(kind: CatalogKind, from: string, into: string): Promise<CatalogItemRecord> {
    const field = kind === 'app' ? 'id' : 'fingerprint';
    if (from === into) throw new ControlError('invalid', `cannot merge ${JSON.stringify(from)} into itself`, 'into');
    const version = await this.store.mergeCatalogItem(kind, from, into);
    if (version === undefined) {
      const reported = (await this.store.listCatalog(kind)).map((item) => item.id);
      throw new ControlError('not_found', unknownIdMessage(kind, from, reported), field);
    }
    this.#policyCommitted(version);
    this.#logger.info({ kind, from, into }, 'catalog items merged');
    return (await this.store.getCatalogItem(kind, into))!;
  }

  // ---- devices ----

  listDevices(): Promise<DeviceRecord[]> {
    return this.store.listDevices();
  }

  /**
   * Revokes the device: its tokens end (sync closes now, inference with its token gets 403), its id
   * and key cannot enroll again until an administrator resets it, and the virtual keys signed in on
   * it are revoked too: they were on the machine, and a key alone is a bearer credential that could
   * enroll a new key pair under a new id (docs/security.md).
   */
  async revokeDevice(id: string): Promise<{ device: DeviceRecord; revokedKeyIds: string[] }> {
    // Only keys typed in on the machine (`--virtual-key`): an SSO sign-in's key is a group's or an
    // administrator's, never on the device; its sign-ins die with the device (the 'revoked' event).
    const signedIn = await this.store.virtualKeySignIns(id);
    const device = await this.store.revokeDevice(id);
    if (!device) throw new ControlError('not_found', `no device ${JSON.stringify(id)}; devices list (GET /admin/v1/devices) shows the enrolled ones`, 'device_id');
    await this.#announce({ type: 'revoked', deviceId: id });
    await this.#announce({ type: 'credentials' });
    const revokedKeyIds = [...new Set(signedIn)];
    for (const keyId of revokedKeyIds) await this.revokeVirtualKey(keyId);
    this.#logger.warn({ device_id: id, revoked_keys: revokedKeyIds }, 'device revoked');
    return { device, revokedKeyIds };
  }

  /** An administrator's action: the device id may enroll again with a new key (a reinstalled machine, a revoked device returned). */
  async resetDevice(id: string): Promise<DeviceRecord> {
    const device = await this.store.resetDevice(id);
    if (!device) throw new ControlError('not_found', `no device ${JSON.stringify(id)}; devices list (GET /admin/v1/devices) shows the enrolled ones`, 'device_id');
    await this.#announce({ type: 'revoked', deviceId: id });
    await this.#announce({ type: 'credentials' });
    this.#logger.warn({ device_id: id }, 'device reset: its key binding, sign-ins and tokens were cleared');
    return device;
  }

  // ---- virtual keys ----

  async createVirtualKey(input: { email: string; name?: string | undefined }): Promise<{ key: string; record: VirtualKeyRecord }> {
    const user = await this.store.ensureUser(input.email);
    const key = newVirtualKey();
    const record = await this.store.createVirtualKey({
      id: newId('vk'),
      userId: user.id,
      keyHash: hashSecret(key),
      prefix: key.slice(0, VIRTUAL_KEY_PREFIX.length + 4),
      name: input.name ?? null,
    });
    this.#logger.info({ key_id: record.id, user: user.email }, 'virtual key created');
    return { key, record };
  }

  listVirtualKeys(): Promise<VirtualKeyRecord[]> {
    return this.store.listVirtualKeys();
  }

  async revokeVirtualKey(id: string): Promise<VirtualKeyRecord> {
    const record = await this.store.revokeVirtualKey(id);
    if (!record) throw new ControlError('not_found', `no virtual key ${JSON.stringify(id)}; keys list (GET /admin/v1/keys) shows their ids`, 'key_id');
    // The key's user is signed out of every device; the devices stay enrolled and their sync goes on
    // for everyone else signed in there (a device belongs to the organisation, not to one person).
    const devices = await this.store.signOutKey(id);
    await this.#announce({ type: 'credentials' });
    this.#logger.warn({ key_id: id, signed_out_devices: devices.length }, 'virtual key revoked');
    if (devices.length > 0 && (await this.store.userDecisions()).some((d) => d.userId === record.userId)) await this.#policyChanged();
    return record;
  }

  /** For the inference routes: the key's identity when it is known and not revoked. */
  async verifyVirtualKey(key: string): Promise<VirtualKeyIdentity | undefined> {
    if (!key.startsWith(VIRTUAL_KEY_PREFIX) || key.length > 256) return undefined;
    const hash = hashSecret(key);
    let identity = this.#verifiedKeys.get(hash);
    if (identity === undefined) {
      const generation = this.#verifiedKeys.generation();
      const record = await this.store.findVirtualKeyByHash(hash);
      if (!record || record.revokedAt) return undefined;
      identity = { keyId: record.id, userId: record.userId, userEmail: record.userEmail };
      this.#verifiedKeys.set(hash, identity, generation);
    }
    // last_used_at at minute resolution: one write per key per minute, not one per request.
    const now = this.#clock.now();
    if ((this.#keyTouches.get(identity.keyId) ?? 0) < now - 60_000) {
      this.#keyTouches.set(identity.keyId, now);
      await this.store.touchVirtualKey(identity.keyId, new Date(now).toISOString());
    }
    return { ...identity };
  }

  /** The current `allow_direct_keys` setting (synchronous: the inference routes ask on every request). */
  allowDirectKeys(): boolean {
    if (!this.#settings) throw new Error('ControlPlane.start() was not called');
    return this.#settings.allow_direct_keys;
  }

  // ---- events ----

  /** Events, newest first; `user` (email or id) narrows them to one user's, across all devices. */
  async queryEvents(query: Omit<EventQuery, 'userId'> & { user?: string | undefined }) {
    const { user, ...rest } = query;
    if (user === undefined) return this.store.queryEvents(rest);
    const found = await this.store.findUser(user);
    if (!found) throw new ControlError('not_found', `no user ${JSON.stringify(user)}: users appear when a virtual key is created for them`, 'user');
    return this.store.queryEvents({ ...rest, userId: found.id });
  }

  recordGatewayEvent(event: GatewayEventInput): Promise<void> {
    return this.store.recordGatewayEvent(event);
  }

  // ---- CA ----

  async caInfo(): Promise<CaInfo | undefined> {
    const ca = await this.store.getCa();
    return ca ? describeCaRecord(ca) : undefined;
  }

  async generateCa(options: { domains?: readonly string[]; commonName?: string; organization?: string }): Promise<CaInfo> {
    const ca = await generateCa(options);
    await this.#replaceCa(ca);
    return describeCaRecord(ca);
  }

  async uploadCa(certPem: string, keyPem: string): Promise<CaInfo> {
    const ca = checkUploadedCa(certPem, keyPem);
    await this.#replaceCa(ca);
    return describeCaRecord(ca);
  }

  async #replaceCa(ca: CaRecord): Promise<void> {
    const previous = await this.store.getCa();
    await this.store.saveCa(ca);
    if (previous) this.#logger.warn('gateway CA replaced: devices trusting the previous CA need the new one (re-deploy the MDM profile)');
    this.#logger.info({ fingerprint: describeCaRecord(ca).fingerprintSha256, source: ca.source }, 'gateway CA stored');
  }

  /**
   * Signs a leaf for an authenticated device: only while the device is not revoked, and only for
   * names that are hosts of the routing table exactly (the CA's dNSName constraints would also allow
   * their subdomains, which nothing intercepts).
   */
  async signLeaf(deviceId: string, csrPem: string, hosts: readonly string[]): Promise<LeafResult> {
    const device = await this.store.getDevice(deviceId);
    if (!device || device.revokedAt) return { ok: false, code: 'revoked', message: 'this device is not enrolled or was revoked' };
    const outside = hosts.filter((h) => !EXACT_LEAF_HOSTS.has(h.toLowerCase()));
    if (outside.length > 0) {
      return { ok: false, code: 'host_not_permitted', message: `not an intercepted host: ${outside.slice(0, 5).join(', ')}; leaves are signed only for ${[...EXACT_LEAF_HOSTS].join(', ')}` };
    }
    return signLeaf(await this.store.getCa(), csrPem, hosts);
  }

  // ---- edge: enrollment and the sync channel ----

  /** A challenge for a device key to sign (enrollment, token renewal). */
  async issueChallenge(): Promise<ChallengeResponse> {
    const { challenge, expiresAt } = await this.#challenges.issue();
    return { challenge, expires_at: expiresAt };
  }

  /** Checks a signed challenge; consumes it when the signature is good. Throws `unauthorized`. */
  async #proveKey(purpose: 'enroll' | 'token', publicKey: string, challenge: string, signature: string, deviceId: string, field: string): Promise<void> {
    const why = await this.#challenges.check(challenge);
    if (why) throw new ControlError('unauthorized', why, `${field}challenge`);
    if (!verifyDeviceProof(publicKey, deviceProofText(purpose, challenge, deviceId), signature)) {
      throw new ControlError('unauthorized', 'the signature is not the device key\'s signature of this challenge and device id', `${field}signature`);
    }
    const used = await this.#challenges.consume(challenge);
    if (used) throw new ControlError('unauthorized', used, `${field}challenge`);
  }

  async #issueToken(deviceId: string): Promise<{ token: string; expiresAt: string }> {
    const token = newDeviceToken();
    const expiresAt = new Date(this.#clock.now() + this.#tokenTtlMs).toISOString();
    await this.store.issueDeviceToken({ tokenId: newId('dt'), tokenHash: hashSecret(token), deviceId, expiresAt });
    return { token, expiresAt };
  }

  /**
   * Enrollment: a user's virtual key signs that user in on a device that proves its key. The first
   * enrollment binds device id <-> public key; after that only the same key enrolls the id (another
   * user signing in on the same machine uses the same device key), until an administrator resets it.
   */
  async enroll(request: EnrollRequest, controlUrl: string): Promise<EnrollResponse> {
    if (!this.#virtualKeyLogin) {
      throw new ControlError('virtual_key_login_disabled', 'your organization signs people in with single sign-on only: run `heimdall login` (without --virtual-key)', 'virtual_key');
    }
    const key = await this.store.findVirtualKeyByHash(hashSecret(request.virtual_key));
    if (!key) throw new ControlError('unauthorized', 'unknown virtual key', 'virtual_key');
    if (key.revokedAt) throw new ControlError('unauthorized', 'the virtual key was revoked', 'virtual_key');
    const enrolled = await this.enrollDevice(request, { userId: key.userId, email: key.userEmail, keyId: key.id });
    return { ...enrolled, control_url: controlUrl };
  }

  /**
   * Binds the device and signs `os_user` in for a person: through a virtual key (enroll) or an SSO
   * sign-in (the token endpoint), under the same rules. The first enrollment binds device id <->
   * public key; after that only the same key enrolls the id (another user signing in on the same
   * machine uses the same device key), until an administrator resets it.
   */
  async enrollDevice(request: DeviceEnrollmentRequest, person: { userId: string; email: string; keyId: string }): Promise<Omit<EnrollResponse, 'control_url'>> {
    const deviceId = request.device.device_id;
    const proof = request.device_key;
    const checked = checkDevicePublicKey(proof.public_key);
    if (!checked.ok) throw new ControlError('invalid', checked.reason, 'device_key.public_key');
    await this.#proveKey('enroll', proof.public_key, proof.challenge, proof.signature, deviceId, 'device_key.');
    const existing = await this.store.getDevice(deviceId);
    if (existing?.revokedAt) throw new ControlError('revoked', 'this device was revoked by an administrator; an administrator must reset it before it enrolls again', 'device.device_id');
    const holder = await this.store.deviceByPublicKey(proof.public_key);
    if (holder && holder.id !== deviceId) {
      if (holder.revokedAt) throw new ControlError('revoked', 'this device key belongs to a revoked device; an administrator must reset that device first', 'device_key.public_key');
      throw new ControlError('conflict', 'this device key is already bound to another device id', 'device_key.public_key');
    }
    if (existing && existing.publicKey !== null && existing.publicKey !== proof.public_key) {
      throw new ControlError(
        'conflict',
        'this device id is bound to another device key: only that key can enroll it; an administrator can reset the device (heimdall-gateway devices reset <id>)',
        'device.device_id',
      );
    }
    if (existing && existing.publicKey === null) {
      // Enrolled before device keys (or reset): only someone already signed in there binds a key.
      const users = await this.store.deviceUsers(deviceId);
      if (users.length > 0 && !users.some((u) => u.userId === person.userId)) {
        throw new ControlError('conflict', 'this device id has no key yet and you are not signed in on it; one of its users, or an administrator reset, must come first', 'device.device_id');
      }
    }
    const device = await this.store.enrollDevice({
      deviceId,
      facts: {
        hostname: request.device.hostname,
        os: request.device.os,
        osVersion: request.device.os_version ?? null,
        arch: request.device.arch ?? null,
        agentVersion: request.device.agent_version ?? null,
      },
      publicKey: proof.public_key,
      osUser: request.os_user,
      userId: person.userId,
      keyId: person.keyId,
    });
    const { token, expiresAt } = await this.#issueToken(deviceId);
    this.#logger.info({ device_id: device.id, hostname: device.hostname, user: person.email, os_user: request.os_user, key_algorithm: checked.algorithm }, 'device enrolled');
    await this.userSignedIn(person.userId);
    return { device_token: token, device_id: device.id, user: { id: person.userId, email: person.email }, token_expires_at: expiresAt };
  }

  /** A device's users changed: its snapshot may now carry this user's exceptions. */
  async userSignedIn(userId: string): Promise<void> {
    if ((await this.store.userDecisions()).some((d) => d.userId === userId)) await this.#policyChanged([userId]);
  }

  /** Renewal: a new short-lived device token for a challenge signed by the key bound to the device. */
  async renewDeviceToken(request: TokenRequest): Promise<TokenResponse> {
    const device = await this.store.getDevice(request.device_id);
    if (!device || device.publicKey === null) throw new ControlError('unauthorized', 'this device is not enrolled with a device key; enroll it (heimdall login)', 'device_id');
    if (device.revokedAt) throw new ControlError('revoked', 'this device was revoked by an administrator', 'device_id');
    await this.#proveKey('token', device.publicKey, request.challenge, request.signature, device.id, '');
    const { token, expiresAt } = await this.#issueToken(device.id);
    return { device_token: token, expires_at: expiresAt };
  }

  async authenticateDevice(token: string): Promise<DeviceTokenIdentity | undefined> {
    if (token.length > 256) return undefined;
    return this.store.findDeviceToken(hashSecret(token));
  }

  /** For the inference routes: the device a device token proves (verified ones kept until their expiry, at most a few seconds). */
  async inferenceDevice(token: string): Promise<InferenceDevice> {
    if (token.length > 256) return { ok: false, status: 401, message: 'the device token is not valid; the Heimdall agent renews it by itself' };
    const hash = hashSecret(token);
    const known = this.#verifiedDevices.get(hash);
    if (known !== undefined) return { ok: true, deviceId: known };
    const generation = this.#verifiedDevices.generation();
    const identity = await this.store.findDeviceToken(hash);
    if (!identity) return { ok: false, status: 401, message: 'the device token is not valid; the Heimdall agent renews it by itself' };
    if (identity.refused === 'device_revoked') return { ok: false, status: 403, message: 'this device was revoked by an administrator' };
    if (identity.refused === 'token_expired') return { ok: false, status: 401, message: 'the device token expired; the Heimdall agent renews it by itself' };
    this.#verifiedDevices.set(hash, identity.deviceId, generation, Date.parse(identity.expiresAt));
    return { ok: true, deviceId: identity.deviceId };
  }

  async recordHello(deviceId: string, hello: HelloMessage): Promise<void> {
    await this.store.updateDeviceFromHello(
      deviceId,
      { hostname: hello.hostname, os: hello.os, osVersion: hello.os_version, arch: hello.arch, agentVersion: hello.agent_version },
      hello.users,
      this.#nowIso(),
    );
  }

  touchDevice(deviceId: string): Promise<void> {
    return this.store.touchDevice(deviceId, this.#nowIso());
  }

  highSeq(deviceId: string, stream: string): Promise<number> {
    return this.store.highSeq(deviceId, stream);
  }

  /** How many of `count` events the device's rate lets in now: takes them from its allowance, so once per message (not per write attempt). */
  admitEvents(deviceId: string, count: number): number {
    return this.#eventRate.take(deviceId, count, this.budgets(), this.#clock.now());
  }

  /** Stores the first `allowed` events and acknowledges the rest as over the rate; `allowed` from admitEvents, once per message. */
  async ingestEvents(deviceId: string, stream: string, events: readonly EdgeEvent[], allowed = this.admitEvents(deviceId, events.length)): Promise<IngestOutcome> {
    const budgets = this.budgets();
    const kept = allowed === events.length ? events : events.slice(0, allowed);
    let highSeq = kept.length > 0 ? (await this.store.ingestEvents(deviceId, stream, kept, this.#nowIso())).highSeq : await this.store.highSeq(deviceId, stream);
    if (allowed === events.length) return { highSeq };
    const dropped = events.slice(allowed);
    highSeq = await this.store.skipSeq(deviceId, stream, dropped[dropped.length - 1]!.seq, this.#nowIso());
    const over = overBudget('events_per_minute', budgets.events_per_minute, dropped.length, `events seq ${dropped[0]!.seq}-${dropped[dropped.length - 1]!.seq} over the rate (burst ${budgets.events_burst})`);
    await this.recordOverBudget(deviceId, over, { message_type: 'events', first_seq: dropped[0]!.seq, last_seq: dropped[dropped.length - 1]!.seq });
    return { highSeq, over };
  }

  /** An inventory report within the device's row and catalog budgets replaces the previous one; one over them is dropped. */
  async ingestInventory(deviceId: string, stream: string, message: InventoryAppsMessage | InventoryMcpMessage): Promise<IngestOutcome> {
    const at = this.#nowIso();
    const budgets = this.budgets();
    const kind: CatalogKind = message.type === 'inventory.apps' ? 'app' : 'mcp';
    const ids = message.type === 'inventory.apps' ? message.apps.map((a) => a.app_id) : message.servers.map((s) => s.fingerprint);
    const rows = message.type === 'inventory.apps' ? message.apps.length : message.servers.length;
    const rowBudget = message.type === 'inventory.apps' ? budgets.inventory_apps : budgets.inventory_mcp;
    let over: OverBudget | undefined;
    if (rows > rowBudget) {
      over = overBudget(message.type === 'inventory.apps' ? 'inventory_apps' : 'inventory_mcp', rowBudget, rows, `${message.type} seq ${message.seq}`);
    } else {
      const added = (await this.store.itemsAddedBy(deviceId)) + (await this.store.countUnknown(kind, ids));
      if (added > budgets.catalog_items) over = overBudget('catalog_items', budgets.catalog_items, added, `${message.type} seq ${message.seq} would bring the catalog items this device added`);
    }
    if (over) return this.refuseOutboxMessage(deviceId, stream, message.seq, message.type, over);
    const result =
      message.type === 'inventory.apps'
        ? await this.store.replaceAppInventory(deviceId, stream, message.seq, message.apps, at)
        : await this.store.replaceMcpInventory(deviceId, stream, message.seq, message.servers, message.errors, at);
    // New items are pending, which the policy snapshot does not list: no push (one device's
    // reports never make the gateway push to the fleet).
    return { highSeq: result.highSeq };
  }

  /** Acknowledges an outbox message without storing it (over a budget), and tells administrators. */
  async refuseOutboxMessage(deviceId: string, stream: string, seq: number | undefined, type: string, over: OverBudget): Promise<IngestOutcome> {
    const highSeq = seq === undefined ? await this.store.highSeq(deviceId, stream) : await this.store.skipSeq(deviceId, stream, seq, this.#nowIso());
    await this.recordOverBudget(deviceId, over, { message_type: type, ...(seq === undefined ? {} : { seq }) });
    return { highSeq, over };
  }

  /** The admin event `budget.exceeded` (at most one per device and budget a minute; the rest are counted). */
  async recordOverBudget(deviceId: string, over: OverBudget, attrs: Record<string, string | number>): Promise<void> {
    this.#logger.warn({ device_id: deviceId, budget: over.budget, limit: over.limit, got: over.got, ...attrs }, 'device message over budget; dropped');
    const { record, suppressed } = this.#budgetEvents.admit(deviceId, over.budget, this.#clock.now());
    if (!record) return;
    await this.store.recordGatewayEvent({
      type: 'budget.exceeded',
      at: this.#nowIso(),
      deviceId,
      attrs: { budget: over.budget, limit: over.limit, got: over.got, ...attrs, earlier_in_last_minute: suppressed },
    });
  }

  /** Records the request as a sighting (an unknown item becomes pending); undefined, or the budget it would exceed. */
  async approvalRequest(deviceId: string, message: ApprovalRequestMessage): Promise<OverBudget | undefined> {
    const sighting =
      message.kind === 'app'
        ? { kind: 'app' as const, id: message.app_id, displayName: message.display_name }
        : { kind: 'mcp' as const, id: message.fingerprint, displayName: message.display_name };
    const limit = this.budgets().catalog_items;
    if ((await this.store.countUnknown(sighting.kind, [sighting.id])) > 0) {
      const added = (await this.store.itemsAddedBy(deviceId)) + 1;
      if (added > limit) {
        const over = overBudget('catalog_items', limit, added, `approval.request for ${sighting.id} would bring the catalog items this device added`);
        await this.recordOverBudget(deviceId, over, { message_type: 'approval.request' });
        return over;
      }
    }
    const at = this.#nowIso();
    const created = await this.store.recordSightings(deviceId, [sighting], at, 'request');
    this.#logger.info({ device_id: deviceId, kind: message.kind, id: sighting.id, os_user: message.os_user, created: created > 0 }, 'approval requested');
    // A person asked (`heimdall request-access ... --reason`): the request joins the approval queue
    // with their words. Who asked is the device's signed-in user for that OS account, never a field.
    if (message.reason !== undefined) {
      const userId = message.os_user !== undefined ? (await this.store.deviceUserMap(deviceId)).get(message.os_user) : undefined;
      await this.store.recordGatewayEvent({
        type: APPROVAL_REQUESTED_EVENT,
        at,
        deviceId,
        app: message.kind === 'app' ? message.app_id : null,
        userId: userId ?? null,
        attrs: { kind: message.kind, item_id: sighting.id, display_name: message.display_name, os_user: message.os_user ?? null, reason: message.reason },
      });
    }
    return undefined;
  }

  /**
   * The approval queue: every catalog item still pending, newest request first, with what people asked
   * (`approval.requested` events: reason, OS user, the signed-in person, device).
   */
  async approvalQueue(): Promise<ApprovalQueueItem[]> {
    const requests = await this.store.queryEvents({ type: APPROVAL_REQUESTED_EVENT, limit: 1000 });
    const emails = new Map<string, string | null>();
    const emailOf = async (userId: string | null): Promise<string | null> => {
      if (userId === null) return null;
      if (!emails.has(userId)) emails.set(userId, (await this.store.findUser(userId))?.email ?? null);
      return emails.get(userId) ?? null;
    };
    const hostnames = new Map<string, string | null>();
    const hostnameOf = async (deviceId: string | null): Promise<string | null> => {
      if (deviceId === null) return null;
      if (!hostnames.has(deviceId)) hostnames.set(deviceId, (await this.store.getDevice(deviceId))?.hostname ?? null);
      return hostnames.get(deviceId) ?? null;
    };
    const queue: ApprovalQueueItem[] = [];
    for (const kind of ['app', 'mcp'] as const) {
      for (const item of await this.store.listCatalog(kind)) {
        if (item.status !== 'pending') continue;
        const asked = requests.filter((e) => e.attrs['kind'] === kind && e.attrs['item_id'] === item.id);
        queue.push({
          kind,
          id: item.id,
          displayName: item.displayName,
          fleetCount: item.fleetCount,
          firstSeenAt: item.firstSeenAt,
          requests: await Promise.all(
            asked.map(async (e) => ({
              at: e.at,
              deviceId: e.deviceId,
              hostname: await hostnameOf(e.deviceId),
              osUser: typeof e.attrs['os_user'] === 'string' ? e.attrs['os_user'] : null,
              userId: e.userId,
              userEmail: await emailOf(e.userId),
              reason: String(e.attrs['reason'] ?? ''),
            })),
          ),
        });
      }
    }
    // Items people asked for first, most recent request first; then the rest by first sighting.
    return queue.sort((a, b) => (b.requests[0]?.at ?? '').localeCompare(a.requests[0]?.at ?? '') || a.firstSeenAt.localeCompare(b.firstSeenAt));
  }
}
