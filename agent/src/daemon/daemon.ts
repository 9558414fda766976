// The daemon's main: builds every room, hands each its dependencies, and runs until told to stop.
// Data flows one way through a request (intercept -> identify -> policy -> forward); this file is
// the only place that knows all the rooms.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { AUTH_MIGRATIONS, Credentials, DeviceTokens, SsoLogin, TokenVault, UserSessions, UserTokens, collectDeviceFacts, deviceKeyStoreFor, loginRouteHandler, vaultKeySourceFor, type SignedInUser } from '../auth/index.ts';
import { ConfigManager, platformSources, type HeimdallConfig } from '../config/index.ts';
import { AppResolver, createProcessResolver } from '../identify/index.ts';
import { createLogger, type Logger, type LogLevel } from '../lib/logger.ts';
import { currentPlatform, resolvePaths, type PlatformPaths } from '../lib/platform.ts';
import { loadMallocAddon } from '../lib/sockdiag-addon.ts';
import { AGENT_VERSION } from '../lib/version.ts';
import { LocalApi, platformCallerResolver } from '../localapi/index.ts';
import { MCP_MIGRATIONS, McpGovernor } from '../mcp/index.ts';
import { ApprovalTracker, POLICY_MIGRATIONS, PolicyEngine, SeenApps, blockedSummary } from '../policy/index.ts';
import { Store } from '../store/index.ts';
import { GatewayCaSigner, Outbox, SYNC_MIGRATIONS, SyncClient, describeSyncStatus } from '../sync/index.ts';
import { interceptedHosts, osTrustContext } from '../forward/index.ts';
import { createExchangeAuditor, flushAuditAtExit } from './audit.ts';
import { Governance } from './governance.ts';
import { Interception } from './interception.ts';
import { Lifecycle } from './lifecycle.ts';
import { MallocTrim, collectAllGarbage, releaseStartupMemory } from './malloc-trim.ts';
import { Metrics } from './metrics.ts';
import { localApiRoutes } from './local-routes.ts';
import { personMcpRequest, personRequest } from './request-access.ts';
import { mcpAuditEvent, mcpInventoryMessage } from './mcp-report.ts';
import { configBlockers, judgeGovernance, mcpStatus, policyBlockers, syncBlockers, type DaemonStatus, type StatusSection, type StatusView } from './status.ts';

export interface DaemonOptions {
  /** Development: run unprivileged with state (and the local API socket) in this directory. */
  stateDir?: string;
  /** Development: read this managed file instead of the platform's. */
  configFile?: string;
  /** Development flags, lowest precedence (commander's parsed options). */
  flags?: Record<string, unknown>;
  /** How long in-flight work may take to finish after SIGTERM. */
  graceMs?: number;
  logDestination?: Writable;
  /** Awaited before the first MCP discovery starts (tests hold discovery open with it to watch `status` meanwhile). */
  beforeMcpDiscovery?: () => Promise<void>;
}

export interface RunningDaemon {
  readonly paths: PlatformPaths;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly config: ConfigManager;
  readonly store: Store;
  status(): DaemonStatus;
  stop(reason: string): Promise<void>;
}

export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const platform = currentPlatform();
  const paths = resolvePaths({ platform, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  const managedFile = options.configFile ?? paths.managedConfigFile;
  const flags = options.flags ?? {};
  const initialLevel = (typeof flags['logLevel'] === 'string' ? flags['logLevel'] : 'info') as LogLevel;
  const logger = createLogger({ level: initialLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const startedAt = new Date();
  const lifecycle = new Lifecycle({ logger, graceMs: options.graceMs ?? 10_000 });
  // Run as root for every user's state; a development --state-dir covers only the current user.
  const machineWide = !options.stateDir && process.getuid?.() === 0;

  // --- state and configuration
  const store = new Store({ stateDir: paths.stateDir, logger, migrations: [AUTH_MIGRATIONS, POLICY_MIGRATIONS, SYNC_MIGRATIONS, MCP_MIGRATIONS] });
  lifecycle.add({ name: 'store', close: () => store.close() });

  const config = new ConfigManager({
    sources: platformSources({ platform, managedFile, flags }),
    logger,
    cache: { load: (s) => store.loadConfigSource(s), save: (s, v) => store.saveConfigSource(s, v) },
  });
  const resolved = await config.load();
  logger.level = resolved.config.log_level;
  config.watch();
  lifecycle.add({ name: 'config', close: () => config.close() });

  logger.debug('start-up: config loaded');

  // --- identity of this device and its users
  // SSO tokens and virtual keys rest sealed (AES-256-GCM) under a key from the OS key store (docs/security.md).
  const vaultKeys = vaultKeySourceFor({ platform: process.platform, stateDir: paths.stateDir, machineWide });
  let vaultKeyDurable = true;
  const vaultKey = await vaultKeys.loadOrCreate().catch((err: unknown) => {
    // The daemon keeps governing: sign-ins then last until it restarts, and the log says why.
    logger.error({ err: (err as Error).message, key_store: vaultKeys.kind }, 'could not open the token vault key; sign-ins made now will not survive a restart');
    vaultKeyDurable = false;
    return randomBytes(32);
  });
  const vault = new TokenVault(vaultKey);
  const credentials = new Credentials(store.db, vault);
  // Keys a store from before sealing holds in clear; never under a throwaway key (they would be lost).
  if (vaultKeyDurable) credentials.sealPlainKeys();
  const deviceId = credentials.deviceId();
  // The device key: the OS key store for the machine-wide daemon, the state directory otherwise.
  const deviceKeys = deviceKeyStoreFor({ platform: process.platform, stateDir: paths.stateDir, machineWide });
  const deviceTokens = new DeviceTokens({
    credentials,
    deviceKeys,
    controlUrl: () => config.current.control_url,
    secureContext: osTrustContext(),
    logger: logger.child({ room: 'auth' }),
  });
  const userTokens = new UserTokens(store.db, vault);
  const sessions: UserSessions = new UserSessions({
    tokens: userTokens,
    // Refreshes start from timers, after `sso` below exists.
    refresh: (refreshToken) => sso.refresh(refreshToken),
    logger: logger.child({ room: 'auth' }),
  });
  // Every OS user signed in on this device, SSO first (it wins over a virtual key on the wire).
  const signedInUsers = (): SignedInUser[] => {
    const viaSso = userTokens.list().map((u) => ({ osUser: u.osUser, userId: u.user.id, email: u.user.email, signedInAt: u.signedInAt }));
    const seen = new Set(viaSso.map((u) => u.osUser));
    return [...viaSso, ...credentials.signedInUsers().filter((u) => !seen.has(u.osUser))].sort((a, b) => a.osUser.localeCompare(b.osUser));
  };
  // Asked on every request (user-scoped decisions); the users change only when someone logs in.
  let userIds: Map<string, string | undefined> | undefined;
  const userIdFor = (osUser: string): string | undefined =>
    (userIds ??= new Map(signedInUsers().map((u) => [u.osUser, u.userId]))).get(osUser);

  // --- policy
  const policy = new PolicyEngine({ db: store.db, logger: logger.child({ room: 'policy' }) });
  policy.loadCachedPolicy();
  const approvals = new ApprovalTracker({ db: store.db, policy });
  const seenApps = new SeenApps({ db: store.db });

  logger.debug('start-up: policy loaded');

  // --- sync with the control plane
  const outbox = new Outbox({ db: store.db, logger: logger.child({ room: 'outbox' }) });
  const sync = new SyncClient({
    controlUrl: () => config.current.control_url,
    credentials: { enrollment: () => credentials.enrollment(), revokedAt: () => credentials.revokedAt(), markRevoked: (t) => credentials.markRevoked(t), signedInUsers },
    tokens: deviceTokens,
    outbox,
    db: store.db,
    deviceFacts: () => collectDeviceFacts({ deviceId, agentVersion: AGENT_VERSION }),
    // The policy room owns the version in force and the stale check; the channel only hands over.
    policy,
    // A control plane behind a private CA the OS trusts is trusted here too, as for forwarding.
    secureContext: osTrustContext(),
    logger: logger.child({ room: 'sync' }),
  });
  sync.start();
  lifecycle.add({ name: 'sync', close: () => sync.stop() });

  logger.debug('start-up: sync started');

  // --- the governed traffic path: intercept -> identify -> policy -> forward
  const governance = new Governance({
    processes: createProcessResolver(process.platform, { logger }),
    apps: new AppResolver(),
    policy,
    approvals,
    userIdFor,
    sendApprovalRequest: (m) => sync.sendApprovalRequest(m),
    messageContext: () => ({ organization: config.current.organization, supportUrl: config.current.support_url }),
    logger: logger.child({ room: 'governance' }),
  });
  const audit = createExchangeAuditor({ outbox, seen: seenApps, logger });
  // An exit on an uncaught exception still writes the waiting batch.
  const stopFlushAtExit = flushAuditAtExit(audit);
  // Closed after interception (reverse order): the last exchanges' events reach the store before it closes.
  lifecycle.add({ name: 'audit', close: () => { audit.flush(); stopFlushAtExit(); } });
  const metrics = new Metrics({
    activeConnections: () => interception.status().active_connections,
    outboxDepth: () => outbox.depth().rows,
    policyVersion: () => policy.version(),
    syncConnected: () => sync.status().state === 'connected',
  });
  // Memory a burst of app connections freed goes back to the OS once the burst is over.
  const mallocAddon = loadMallocAddon();
  const trimMalloc = mallocAddon ? (): boolean => mallocAddon.mallocTrim() : undefined;
  const mallocTrim = new MallocTrim({ trim: trimMalloc, collect: () => collectAllGarbage('regular'), logger });
  lifecycle.add({ name: 'malloc-trim', close: () => mallocTrim.close() });
  const interception = new Interception({
    stateDir: paths.stateDir,
    publicDir: paths.publicDir,
    deviceId,
    deviceToken: () => deviceTokens.current(),
    governor: governance,
    // The identity of the OS user who owns the calling process: their SSO access token, else their
    // virtual key; nobody signed in: the organization's `unattributed` setting (block, or the device alone).
    getCredential: (a) => {
      const token = a.osUser !== undefined ? sessions.current(a.osUser) : undefined;
      if (token !== undefined) return { kind: 'user_token', token };
      const key = a.osUser !== undefined ? credentials.virtualKeyFor(a.osUser) : undefined;
      if (key !== undefined) return { kind: 'virtual_key', key };
      return policy.unattributed() === 'device' ? { kind: 'device_only' } : undefined;
    },
    onExchangeComplete: (record) => {
      audit(record);
      metrics.observe(record);
    },
    activity: mallocTrim,
    gatewaySigner: (onCaCertificate) => new GatewayCaSigner({ sync, permittedHosts: interceptedHosts(), onCaCertificate }),
    logger,
  });
  await interception.apply(config.current);
  lifecycle.add(interception);
  // Once the channel can send: pending approval requests, and (gateway-held CA) the leaves it signs.
  const onChannelUp = (): void => {
    for (const request of approvals.takeDue()) if (!sync.sendApprovalRequest(request)) approvals.deferReport(request);
    if (interception.caMode === 'gateway') void interception.prewarm();
  };
  sync.onStateChange((s) => s.state === 'connected' && onChannelUp());
  // The channel may have come up while interception was starting.
  if (sync.status().state === 'connected') onChannelUp();
  const applyMetricsPort = async (port: number | undefined): Promise<void> => {
    await metrics.close();
    if (port !== undefined) await metrics.listen(port, logger);
  };
  await applyMetricsPort(config.current.metrics_port).catch((err: unknown) => logger.error({ err: (err as Error).message }, 'could not serve metrics'));
  lifecycle.add({ name: 'metrics', close: () => metrics.close() });

  logger.debug('start-up: interception applied');
  // --- MCP servers in every supported app
  const mcp = new McpGovernor({
    store,
    logger: logger.child({ room: 'mcp' }),
    decide: (fingerprint, osUser) => policy.decideMcpServer(fingerprint, osUser, osUser !== undefined ? userIdFor(osUser) : undefined),
    report: (inventory) => outbox.enqueueInventory(mcpInventoryMessage(inventory)),
    audit: (event) => outbox.enqueue(mcpAuditEvent(event)),
    mode: machineWide ? 'root' : 'current-user',
    // A development daemon (--state-dir) must not rewrite the machine's managed app policies in /etc:
    // its managed files go under the state dir, and only the current user's own files are edited.
    ...(options.stateDir ? { managedRoot: path.join(paths.stateDir, 'managed-root') } : {}),
  });
  policy.on('change', () => {
    mcp.applyPolicy().catch((err: unknown) => logger.error({ err: (err as Error).message }, 'could not apply the new policy to MCP servers'));
  });
  // The first inventory reads every user's app configs (a large ~/.claude.json takes seconds): it runs
  // in the background so the proxy and the local API serve at once; `heimdall status` says it is in progress.
  let stopping = false;
  const syncUpOrTimeout = new Promise<void>((resolve) => {
    if (sync.status().state === 'connected') return resolve();
    const timer = setTimeout(done, 5_000).unref();
    const stopListening = sync.onStateChange((s) => s.state === 'connected' && done());
    function done(): void {
      clearTimeout(timer);
      stopListening();
      resolve();
    }
  });
  void (options.beforeMcpDiscovery?.() ?? Promise.resolve())
    .then(async () => {
      if (stopping) return;
      await mcp.start();
      if (stopping) return;
      logger.info({ servers: mcp.list().length }, 'MCP discovery complete');
      // Start-up's work is done once the sync channel has also come up (or had 5 s to): its memory goes back now, not after a minute idle.
      await syncUpOrTimeout;
      if (!stopping) releaseStartupMemory(trimMalloc, logger);
    })
    .catch((err: unknown) => logger.error({ err: (err as Error).message }, 'MCP discovery failed; MCP servers are not governed until the next rescan'));
  lifecycle.add({
    name: 'mcp',
    close: () => {
      stopping = true;
      // Waits for a scan under way; the discovery then sees the stop and does not start watching.
      return mcp.stop();
    },
  });

  logger.debug('start-up: mcp discovery started in the background');
  config.on('change', ({ config: next, changed }: { config: HeimdallConfig; changed: (keyof HeimdallConfig)[] }) => {
    logger.level = next.log_level;
    void interception.apply(next, changed);
    if (changed.includes('control_url') || changed.includes('gateway_url')) sync.wake();
    if (changed.includes('metrics_port')) {
      applyMetricsPort(next.metrics_port).catch((err: unknown) => logger.error({ err: (err as Error).message }, 'could not serve metrics'));
    }
  });

  // --- status and the local API
  const signedInFor = (view: StatusView): SignedInUser[] => signedInUsers().filter((u) => view.kind === 'all' || (view.kind === 'user' && u.osUser === view.osUser));
  const sections: StatusSection[] = [
    { name: 'interception', collect: () => interception.status(), blockers: () => interception.blockers() },
    {
      name: 'sync',
      collect: () => ({ ...sync.status(), summary: describeSyncStatus(sync.status()) }),
      blockers: () => syncBlockers(sync.status(), config.current.control_url),
    },
    {
      name: 'policy',
      collect: () => {
        const blocked = blockedSummary(store.db);
        const held = policy.version();
        return {
          version: held,
          fail_mode: policy.failMode(),
          apps_blocked_now: blocked.appsBlockedNow,
          blocked_requests: blocked.blockedRequests,
          summary: `${held === null ? 'no policy received yet' : `version ${held}`}, fail_mode ${policy.failMode()}; ${blocked.blockedRequests} request(s) blocked from ${blocked.appsBlockedNow} app(s)`,
        };
      },
      blockers: () => policyBlockers(policy.version(), sync.status().policy_age_s),
    },
    {
      name: 'users',
      // Other users' names and emails are theirs: an unprivileged caller sees only their own sign-in.
      collect: (view) => {
        const all = signedInUsers();
        if (view.kind === 'anonymous') {
          return { signed_in: [], summary: `${all.length} user(s) signed in; names are shown only to a caller the daemon can identify` };
        }
        // Method, expiry and the last refresh failure (a sentence, never a token) per user.
        const users = signedInFor(view).map((u) => {
          const s = userTokens.signIn(u.osUser);
          return {
            os_user: u.osUser,
            email: u.email ?? null,
            signed_in_at: u.signedInAt,
            method: s ? 'sso' : 'virtual_key',
            access_expires_at: s ? new Date(s.accessExpiresAt).toISOString() : null,
            refresh_error: s?.refreshError ?? null,
          };
        });
        const describe = (u: (typeof users)[number]) => `${u.os_user} (${u.email ?? 'gateway user'}, ${u.method === 'sso' ? 'SSO' : 'virtual key'})${u.refresh_error ? `: ${u.refresh_error}` : ''}`;
        return { signed_in: users, sign_in_command: signInCommand(), summary: users.length === 0 ? 'nobody signed in' : users.map(describe).join(', ') };
      },
      blockers: (view) => {
        if (view.kind === 'user' && signedInFor(view).length === 0) {
          return [{ reason: 'not_signed_in', message: `you (OS user ${view.osUser}) have not signed in on this machine: run ${signInCommand()}` }];
        }
        // A sign-in whose refresh the gateway refused no longer carries its user's requests.
        const failing = signedInFor(view).flatMap((u) => {
          const err = userTokens.signIn(u.osUser)?.refreshError;
          return err !== undefined && sessions.current(u.osUser) === undefined ? [{ reason: 'not_signed_in' as const, message: `OS user ${u.osUser}: ${err}` }] : [];
        });
        if (failing.length > 0) return failing;
        return signedInUsers().length === 0 ? [{ reason: 'not_signed_in', message: `nobody on this machine has signed in: run ${signInCommand()}` }] : [];
      },
    },
    { name: 'mcp', collect: (view) => mcpStatus(mcp.discovery(), view.kind === 'user' ? mcp.list().filter((m) => m.osUser === view.osUser).length : mcp.list().length) },
    { name: 'store', collect: () => ({ file: store.file, schema: store.schemaVersions(), moved_aside: store.movedAside ?? null }) },
  ];

  const status = (view: StatusView = { kind: 'all' }): DaemonStatus => {
    const { config: values, origins, problems } = config.resolved;
    const judged = judgeGovernance([...configBlockers(values, managedFile), ...sections.flatMap((s) => s.blockers?.(view) ?? [])]);
    return {
      agent: {
        version: AGENT_VERSION,
        pid: process.pid,
        started_at: startedAt.toISOString(),
        uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
        platform: `${process.platform}-${process.arch}`,
        node: process.version,
      },
      device_id: deviceId,
      state_dir: paths.stateDir,
      ...judged,
      signed_in_users: view.kind === 'anonymous' ? [] : signedInFor(view).map((u) => u.osUser),
      config: { values, origins, problems },
      sections: Object.fromEntries(sections.map((s) => [s.name, s.collect(view)])),
    };
  };

  // The sign-in command status names, as the gateway's discovery says (SSO or virtual keys only);
  // `heimdall login` until it has answered, which itself says what to do when SSO is not set up.
  const signInCommand = (): string => sso.signInCommand() ?? '`heimdall login`';

  const sso: SsoLogin = new SsoLogin({
    credentials,
    deviceKeys,
    deviceTokens,
    tokens: userTokens,
    sessions,
    controlUrl: () => config.current.control_url,
    agentVersion: AGENT_VERSION,
    secureContext: osTrustContext(),
    logger: logger.child({ room: 'auth' }),
    onChange: () => {
      userIds = undefined;
      sync.wake();
    },
  });
  sessions.start();
  lifecycle.add({
    name: 'sessions',
    close: () => {
      sessions.stop();
      sso.close();
    },
  });

  const localApi = new LocalApi({
    socketPath: paths.localApiSocket,
    routes: localApiRoutes({
      status,
      // Built per request so a control_url changed by MDM applies to the next login.
      login: (request) =>
        loginRouteHandler({ credentials, deviceKeys, controlUrl: config.current.control_url, agentVersion: AGENT_VERSION, secureContext: osTrustContext(), logger: logger.child({ room: 'auth' }) }, () => {
          userIds = undefined;
          sync.wake();
        })(
          request,
        ),
      signOut: async (osUser) => {
        const hadKey = credentials.signOut(osUser);
        if (hadKey) {
          userIds = undefined;
          sync.wake();
        }
        const out = await sso.signOut(osUser);
        return { ...out, signed_out: out.signed_out || hadKey };
      },
      sso,
      environment: () => interception.environment(),
      caStatus: () => interception.status().ca,
      apps: () => seenApps.list(),
      mcp: () => mcp.list(),
      requestAccess: (input) => {
        const message = input.mcpFingerprint !== undefined
          ? personMcpRequest({ fingerprint: input.mcpFingerprint, reason: input.reason, osUser: input.osUser }, mcp.list())
          : personRequest({ appId: input.appId ?? '', reason: input.reason, osUser: input.osUser }, seenApps.list());
        if ('error' in message) return { outcome: 'invalid', error: message.error };
        if (!sync.sendApprovalRequest(message)) return { outcome: 'offline' };
        logger.info({ app: input.appId, mcp: input.mcpFingerprint, os_user: input.osUser }, 'access requested by a person');
        return { outcome: 'sent', displayName: message.display_name };
      },
    }),
    resolveCaller: platformCallerResolver(platform),
    track: () => lifecycle.tracker.begin(),
    logger,
  });
  await localApi.listen();
  lifecycle.add({ name: 'localapi', stopAccepting: () => localApi.stopAccepting(), close: () => localApi.close() });

  logger.info({ version: AGENT_VERSION, device_id: deviceId, state_dir: paths.stateDir, socket: paths.localApiSocket, managed_file: managedFile, machine_wide: machineWide }, 'heimdall daemon started');
  return { paths, logger, lifecycle, config, store, status, stop: (reason) => lifecycle.shutdown(reason) };
}
