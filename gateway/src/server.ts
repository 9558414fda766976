// The gateway process: one HTTP(S) listener serving the admin API, enrollment, the edge websocket,
// health and readiness, and every other path to the inference routes (a table, `routes` below); plus
// its data dir (store, admin token) and its drain on SIGTERM (docs/operations.md).
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { ensurePrivateDirSync, systemClock, writeFileAtomic, type Clock, type Logger } from '../../lib/index.ts';
import { CHALLENGE_PATH, CONNECT_PATH, ENROLL_PATH, TOKEN_PATH } from '../../protocol/index.ts';
import { ADMIN_PREFIX, AdminToken, createAdminApi } from './admin/index.ts';
import { EMPTY_CONFIG, type GatewayConfig } from './config.ts';
import { CONSOLE_PREFIX, createConsole, type GatewayConsole, type SessionLimits } from './console/index.ts';
import { ControlPlane } from './control/index.ts';
import { controlUrlFor, createChallengeHandler, createEnrollHandler, createTokenHandler } from './enroll/index.ts';
import { ClientLimits, createHealth, HEALTH_PATH, READY_PATH, sendError, setBodyTimeout, type RouteClass } from './http/index.ts';
import { EdgeHub } from './hub/index.ts';
import { createInferenceHandler, loadProviderConfig, type InferenceAuditEvent, type InferenceHandler } from './inference/index.ts';
import { openGatewayStore, type GatewayStore } from './store/index.ts';
import { AccessTokens, createSsoHandler, isSsoPath, SsoService } from './sso/index.ts';

import { ADMIN_TOKEN_FILE, RUNTIME_FILE } from './data-dir-files.ts';

export { ADMIN_TOKEN_FILE, RUNTIME_FILE };

export interface GatewayOptions {
  dataDir: string;
  host: string;
  port: number;
  logger: Logger;
  config?: GatewayConfig;
  /** Websocket heartbeat period (tests shorten it). */
  heartbeatMs?: number;
  helloTimeoutMs?: number;
  /** The hub's and the inference limits' timers, the control plane's and the store's timestamps; tests pass a ManualClock. */
  clock?: Clock;
  /** Console session lifetimes (tests shorten them). */
  consoleSessionLimits?: SessionLimits;
}

export interface RunningGateway {
  /** `http://host:port` (or https) of the listener. */
  url: string;
  port: number;
  /** The 0600 file holding the admin token, its one plaintext copy. */
  adminTokenFile: string;
  /** True when this start created the admin token (say where it is; never print it). */
  adminTokenCreated: boolean;
  control: ControlPlane;
  hub: EdgeHub;
  store: GatewayStore;
  /** Single sign-on, when the config has an `sso` section. */
  sso: SsoService | undefined;
  /** The admin console (sign-in with the admin token or, with `sso`, the organization's IdP). */
  console: GatewayConsole;
  /** True once a drain began: /readyz answers 503 `draining`. */
  readonly draining: boolean;
  /**
   * The graceful stop (SIGTERM): stop accepting connections, answer /readyz 503, close every agent
   * connection with 4503 spread over the drain window, then close(). Bounded by the window + grace.
   */
  drain(): Promise<void>;
  /** The immediate stop: agents are closed with 1001 at once (a second signal during a drain ends up here). */
  close(): Promise<void>;
}

/** One row of the listener's route table: which paths, which rate class (none: exempt), who answers. */
interface HttpRoute {
  matches(pathname: string): boolean;
  limit: RouteClass | undefined;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/** Maps the inference room's audit event to a stored gateway event (no bodies, no credentials). */
function inferenceEvent(e: InferenceAuditEvent) {
  return {
    type: 'inference',
    at: e.at,
    // The device is the one its device token proved; the app is that device's claim (never a header
    // of an unauthenticated client).
    deviceId: e.device ?? null,
    app: e.app ?? null,
    userId: e.userId ?? null,
    attrs: {
      request_id: e.requestId,
      method: e.method,
      route: e.route,
      endpoint: e.endpoint ?? null,
      provider: e.provider,
      upstream: e.upstream,
      transport: e.transport,
      model: e.model ?? null,
      key_id: e.keyId ?? null,
      app_source: e.app === undefined ? null : 'claimed_by_device',
      user_email: e.userEmail ?? null,
      unattributed: e.unattributed ?? false,
      direct_key: e.directKey,
      status: e.status,
      outcome: e.outcome,
      error: e.error ?? null,
      latency_ms: e.latencyMs,
      upstream_headers_ms: e.upstreamHeadersMs ?? null,
      bytes_in: e.bytesIn,
      bytes_out: e.bytesOut,
    },
  };
}

export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const config = options.config ?? EMPTY_CONFIG;
  const logger = options.logger;
  ensurePrivateDirSync(options.dataDir);
  const providers = loadProviderConfig(config.inference, config.source ? { source: config.source } : {});
  const store = await openGatewayStore({ dataDir: options.dataDir, logger, clock: options.clock, postgres: config.store, eventsRetentionDays: config.eventsRetentionDays });
  const clock = options.clock ?? systemClock;
  const control = new ControlPlane({
    store,
    logger: logger.child({ component: 'control' }),
    clock,
    virtualKeyLogin: config.sso?.allowVirtualKeyLogin ?? true,
    configSettings: config.sso ? { unattributed: config.sso.unattributed } : {},
  });
  await control.start();
  // Where people and agents reach this gateway: the configured public URL, else the listener's own.
  let listenerUrl = '';
  const publicBase = (): string => (config.publicUrl ? config.publicUrl.href.replace(/\/$/, '') : listenerUrl);
  let sso: SsoService | undefined;
  if (config.sso) {
    const tokens = await AccessTokens.open(options.dataDir, clock, publicBase);
    sso = new SsoService({ config: config.sso, store, control, tokens, clock, logger: logger.child({ component: 'sso' }), publicBase, supportUrl: config.supportUrl });
  }
  const adminToken = new AdminToken(options.dataDir, store);
  const admin = await adminToken.load();
  const hub = new EdgeHub({
    control,
    logger: logger.child({ component: 'hub' }),
    ...((options.heartbeatMs ?? config.heartbeatMs) ? { heartbeatMs: options.heartbeatMs ?? config.heartbeatMs } : {}),
    ...(options.helloTimeoutMs ? { helloTimeoutMs: options.helloTimeoutMs } : {}),
    drainReconnectS: config.drain.reconnectWindowS,
    clock,
  });
  const adminApi = createAdminApi({
    control,
    logger: logger.child({ component: 'admin' }),
    adminToken,
    allowRemote: config.adminAllowRemote,
    connectedDevices: () => hub.connectedDevices(),
    sso,
  });
  const gatewayConsole = createConsole({
    control,
    admin: adminApi,
    adminToken,
    connectedDevices: () => hub.connectedDevices(),
    clock: options.clock ?? systemClock,
    logger: logger.child({ component: 'console' }),
    allowRemote: config.adminAllowRemote,
    tls: config.tls !== undefined,
    ...(options.consoleSessionLimits ? { sessionLimits: options.consoleSessionLimits } : {}),
    sso: sso?.console,
  });
  // A person an administrator disables loses their console sessions too, not only their devices' sign-ins.
  sso?.onUserDisabled((userId) => {
    gatewayConsole.sessions.endPerson(userId).then(
      (ended) => {
        if (ended > 0) logger.warn({ user_id: userId, sessions: ended }, 'user disabled: their console sessions ended');
      },
      (err: unknown) => logger.error({ err, user_id: userId }, 'user disabled, but their console sessions could not be ended; they end at their expiry'),
    );
  });
  if (admin.replaced) {
    // The token file holds a token other than the one the database knew (a new Secret rolled out): a rotation.
    const ended = await gatewayConsole.sessions.endAll('admin_token');
    logger.warn({ sessions: ended }, 'admin token replaced from the token file: console sessions signed in with the previous one ended');
  }
  const isConsole = (pathname: string): boolean => pathname === CONSOLE_PREFIX || pathname.startsWith(`${CONSOLE_PREFIX}/`);
  const enrollOptions = { control, logger: logger.child({ component: 'enroll' }), publicUrl: config.publicUrl, tls: config.tls !== undefined };
  const enroll = createEnrollHandler(enrollOptions);
  const challenge = createChallengeHandler(enrollOptions);
  const renewToken = createTokenHandler(enrollOptions);
  const ssoHandler = createSsoHandler({
    service: sso,
    logger: logger.child({ component: 'sso' }),
    virtualKeyLogin: () => control.virtualKeyLoginAllowed(),
    controlUrl: (req) => controlUrlFor(req, config.publicUrl, config.tls !== undefined),
    publicBase,
  });
  const inference: InferenceHandler = createInferenceHandler({
    verifyVirtualKey: (key) => control.verifyVirtualKey(key),
    verifyDeviceToken: (token) => control.inferenceDevice(token),
    ...(sso ? { verifyUserToken: (token: string, deviceId: string) => sso.personForRequest(token, deviceId), unattributed: () => sso.unattributed() } : {}),
    allowDirectKeys: () => control.allowDirectKeys(),
    recordInference: (event) => {
      control.recordGatewayEvent(inferenceEvent(event)).catch((err: unknown) => logger.error({ err }, 'failed to store an inference audit event'));
    },
    providers,
    logger,
    ...(config.supportUrl ? { supportUrl: config.supportUrl } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });

  let draining = false;
  const health = createHealth({
    // A store without ping (optional in the interface) is asked for the policy version instead.
    ping: async () => {
      if (store.ping) await store.ping();
      else await store.policyVersion();
    },
    draining: () => draining,
    logger: logger.child({ component: 'health' }),
    clock,
  });

  // The listener's routes, first match wins. Health, readiness and the websocket upgrade are exempt
  // from the rate limits (a balancer probes every few seconds; agents are capped per connection).
  const exact = (p: string) => (pathname: string) => pathname === p;
  const routes: HttpRoute[] = [
    { matches: exact(HEALTH_PATH), limit: undefined, handle: health.live },
    { matches: exact(READY_PATH), limit: undefined, handle: health.ready },
    { matches: (p) => p.startsWith(ADMIN_PREFIX), limit: 'admin', handle: (req, res) => void adminApi.handle(req, res) },
    { matches: isConsole, limit: 'admin', handle: (req, res) => void gatewayConsole.handle(req, res) },
    { matches: exact(ENROLL_PATH), limit: 'enroll', handle: (req, res) => void enroll(req, res) },
    { matches: exact(CHALLENGE_PATH), limit: 'inference', handle: (req, res) => void challenge(req, res) },
    { matches: exact(TOKEN_PATH), limit: 'inference', handle: (req, res) => void renewToken(req, res) },
    { matches: isSsoPath, limit: 'enroll', handle: (req, res) => void ssoHandler(req, res) },
    {
      matches: exact(CONNECT_PATH),
      limit: undefined,
      handle: (_req, res) => sendError(res, 426, 'upgrade_required', 'this endpoint is a websocket (subprotocol heimdall.edge.v1)'),
    },
    {
      matches: () => true,
      limit: 'inference',
      handle: (req, res) => {
        if (!inference.handleRequest(req, res)) sendError(res, 404, 'not_found', `no route ${(req.url ?? '/').split('?')[0]}`);
      },
    },
  ];
  const routeFor = (pathname: string): HttpRoute => routes.find((r) => r.matches(pathname))!;

  const limits = new ClientLimits(config.limits.clients, options.clock);

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routeFor(pathname);
    // Draining: answer what arrives on connections already open, then let the client go elsewhere.
    if (draining) res.shouldKeepAlive = false;
    const refused = limits.check(req.socket, route.limit);
    if (refused) {
      res.setHeader('retry-after', String(refused.retryAfterS));
      return sendError(res, 429, 'rate_limited', refused.message);
    }
    route.handle(req, res);
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    const refused = limits.check(req.socket, routeFor(pathname).limit);
    if (refused) {
      const body = JSON.stringify({ error: { code: 'rate_limited', message: refused.message } });
      socket.on('error', () => {});
      socket.end(
        `HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: ${refused.retryAfterS}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    if (hub.handleUpgrade(req, socket, head)) return;
    if (inference.handleUpgrade(req, socket, head)) return;
    socket.on('error', () => {});
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  };

  // Deadlines on every request (issue 15, attack 5): headers, the whole request (Node answers 408),
  // and enrollment and admin JSON bodies (readJsonBody answers 408). Upgraded websockets are past
  // their request and are not cut: thousands of idle agent connections are the normal load.
  const serverOptions = {
    headersTimeout: config.limits.headersTimeoutMs,
    requestTimeout: config.limits.requestTimeoutMs,
    // How often Node checks those deadlines (its default, 30 s, would let a slow body outlive a short one).
    connectionsCheckingInterval: Math.min(1000, config.limits.headersTimeoutMs),
  };
  const server = config.tls
    ? https.createServer({ ...serverOptions, cert: config.tls.certPem, key: config.tls.keyPem }, onRequest)
    : http.createServer(serverOptions, onRequest);
  setBodyTimeout(server, config.limits.bodyTimeoutMs);
  // Counted on the socket requests arrive on (the TLS socket behind https).
  server.on(config.tls ? 'secureConnection' : 'connection', (socket: Socket) => limits.accept(socket));
  const sweep = setInterval(() => limits.sweep(), 60_000);
  sweep.unref();
  server.on('upgrade', onUpgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy();
    // The headers or the whole request missed their deadline (attack 5): say so, then hang up.
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      const body = JSON.stringify({ error: { code: 'request_timeout', message: 'the request did not arrive in time' } });
      return void socket.end(`HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    }
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${config.tls ? 'https' : 'http'}://${host}:${address.port}`;
  listenerUrl = url;
  await writeFileAtomic(path.join(options.dataDir, RUNTIME_FILE), `${JSON.stringify({ url, pid: process.pid, started_at: new Date().toISOString() })}\n`, { mode: 0o600 });
  logger.info({ url, data_dir: options.dataDir }, 'gateway listening');
  if (config.sso && !config.publicUrl) {
    logger.warn({ issuer: url }, 'sso is configured without public_url: the IdP is told to send people back to this listener address, and tokens name it as issuer; set public_url to the address people and agents use');
  }

  // Every connection, until its end: 'close' fires once the listener is closed and the last one ended.
  const listenerClosed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  // net.Server's close, not http.Server's: the latter also cuts idle keep-alive connections, and a
  // draining replica still answers what arrives on them (with Connection: close) while it drains.
  const stopAccepting = (): void => {
    if (server.listening) net.Server.prototype.close.call(server);
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info('gateway stopping');
      stopAccepting();
      await hub.close();
      control.close();
      // Give in-flight requests (streams included) a moment, then cut what is left. Their
      // upstream connections stay until then: closing those first would cut every stream at once.
      const grace = setTimeout(() => server.closeAllConnections(), 5_000);
      server.close();
      await listenerClosed;
      clearTimeout(grace);
      inference.close();
      clearInterval(sweep);
      await store.close();
      logger.info('gateway stopped');
    })();
    return closing;
  };

  let drainRun: Promise<void> | undefined;
  const drain = (): Promise<void> => {
    drainRun ??= (async () => {
      draining = true;
      stopAccepting();
      logger.info({ window_ms: config.drain.windowMs, grace_ms: config.drain.graceMs, reconnect_window_s: config.drain.reconnectWindowS }, 'gateway draining');
      await hub.drain(config.drain.windowMs, config.drain.graceMs);
      await close();
    })();
    return drainRun;
  };

  return {
    url,
    port: address.port,
    adminTokenFile: adminToken.file,
    adminTokenCreated: admin.created,
    control,
    hub,
    store,
    sso,
    console: gatewayConsole,
    get draining() {
      return draining;
    },
    drain,
    close,
  };
}
