// The local proxy, the governed path's front door: CONNECT and plain-HTTP proxying on loopback only,
// PAC serving, TLS termination for routing-table hosts, raw tunnels for everything else. Each AI
// exchange (a request or a websocket upgrade) is governed in one step and handed to the forwarder
// the daemon wired in; every answer the proxy gives itself goes through replies.ts.
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { isLoopbackHostHeader, loopbackHostRefusal } from '../lib/loopback-host.ts';
import {
  DEFAULT_FORWARD_TIMEOUTS, headersWithoutSecrets, interceptedHosts, isInterceptedHost, requestIdFrom, resolveRoute,
  type Forwarder, type ForwardResult, type ForwardTarget, type Route, type GatewayCredential,
} from '../forward/index.ts';
import type { PolicyDecision } from '../policy/index.ts';
import { isLocalHost, parseAuthority, type Authority } from './authority.ts';
import {
  allowAllGovernor, UNDECIDED, type Attribution, type ConnectionAdmission, type ConnectionInfo, type ExchangeRecord, type Governor, type RequestInfo,
} from './governor.ts';
import { buildPacScript, PAC_CONTENT_TYPE } from './pac.ts';
import { foreignPageOrigin } from './page-origin.ts';
import { canonicalHost, TargetGuard } from './target-guard.ts';
import { answer, blockPageReply, finalReply, providerReply, textReply, type Reply } from './replies.ts';
import { refuseInResponsesWebsocket } from './responses-ws-refusal.ts';

/** What the proxy needs from the tls room (CertificateManager satisfies it). */
export interface CertificateSource {
  secureContextFor(host: string): Promise<tls.SecureContext>;
}

export interface ClientTimeouts {
  /** A client must finish sending request headers within this (slowloris guard). */
  headersMs: number;
  /** ... and the whole request (headers and body) within this. */
  requestMs: number;
  /** Idle keep-alive connections are closed after this. */
  keepAliveMs: number;
  /** A client must complete the TLS handshake this soon after `200 Connection Established`. */
  tlsHandshakeMs: number;
}

export const DEFAULT_CLIENT_TIMEOUTS: ClientTimeouts = {
  headersMs: 30_000,
  // Uploads of large prompts and files stream through; this only bounds a stalled request.
  requestMs: 300_000,
  keepAliveMs: 65_000,
  tlsHandshakeMs: 15_000,
};

/**
 * Told as apps' connections open and close and as their requests arrive: what the daemon watches to
 * find the quiet after a burst (daemon/malloc-trim.ts). Called on the request path: keep it cheap.
 */
export interface ClientActivity {
  connectionOpened(): void;
  connectionClosed(): void;
  /** A request, CONNECT or upgrade arrived from an app. */
  requestArrived(): void;
}

export interface ProxyServerOptions {
  /** Takes governed exchanges to the gateway or their origin (and plain-HTTP requests onward). */
  forwarder: Forwarder;
  /** For the sentences and the block page the proxy writes itself. */
  supportUrl?: string;
  organization?: string;
  /** Proxy port on 127.0.0.1 and ::1 (0 = any free port, for tests). */
  port: number;
  /** Optional separate port serving only the PAC. */
  pacPort?: number;
  /** Also listen on ::1 (default true; skipped with a log line when the machine has no IPv6 loopback). */
  listenIpv6?: boolean;
  /** A raw tunnel's target must accept the TCP connection this soon. */
  tunnelConnectMs?: number;
  /** Where tunnels and plain-http requests may go (default: anywhere but this machine's own addresses). */
  targetGuard?: TargetGuard;
  /** Time for the drain deadline and closing grace (tests advance a ManualClock). */
  clock?: Clock;
  clientTimeouts?: Partial<ClientTimeouts>;
  /** Request header limit in bytes (default 32 KiB); larger gets 431. */
  maxHeaderBytes?: number;
  certificates: CertificateSource;
  governor?: Governor;
  /**
   * What this attribution's request goes to the gateway under (the OS user's access token or virtual
   * key, or the device alone when the organization forwards unattributed requests); undefined blocks
   * it as not signed in, in the provider's error shape naming `heimdall login`.
   */
  getCredential(attribution: Attribution): GatewayCredential | undefined | Promise<GatewayCredential | undefined>;
  onExchangeComplete?(record: ExchangeRecord): void;
  activity?: ClientActivity;
  logger: Logger;
}

export interface ListeningAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface ProxyAddress {
  port: number;
  listening: ListeningAddress[];
  /** `http://127.0.0.1:PORT`: what HTTPS_PROXY and the PAC point at. */
  proxyUrl: string;
  pacUrl: string;
}

export type ExchangeDecision = 'forwarded' | 'blocked' | 'error';

export interface ProxyStats {
  activeConnections: number;
  connectionsByKind: Record<ConnectionKind, number>;
  /** Exchanges per route and outcome (bounded: route ids x three outcomes). */
  exchanges: Array<{ route: string; decision: ExchangeDecision; count: number }>;
  tunnelsOpened: number;
  connectionsRefused: number;
  clientErrors: number;
}

type ConnectionKind = 'http' | 'tunnel' | 'intercepted' | 'upgraded';

interface ClientConnection {
  socket: net.Socket;
  kind: ConnectionKind;
  /** Requests whose response is not finished yet. */
  inFlight: number;
  /** The TLS layer, for intercepted connections (closing it sends close_notify). */
  tls?: tls.TLSSocket;
  /** Plain-HTTP proxying: admissions per target host, looked up once per connection. */
  plainAdmissions?: Map<string, Promise<ConnectionAdmission>>;
}

/** What an intercepted TLS connection carries into every request on it. */
interface InterceptedContext {
  conn: ClientConnection;
  target: Authority;
  admission: ConnectionAdmission;
  /** The last Host header found to name `target` (an app sends the same one on every request). */
  acceptedHost?: string;
}

interface GovernedExchange {
  host: string;
  transport: ExchangeRecord['transport'];
  conn: ClientConnection;
  admission: ConnectionAdmission;
}

/** Where a governed exchange's answer goes: an HTTP response, or the raw socket of an upgrade. */
type ExchangeIo = { kind: 'request'; res: http.ServerResponse } | { kind: 'upgrade'; socket: Duplex; head: Buffer };

type Verdict = { kind: 'allow'; policy: PolicyDecision } | { kind: 'block'; message: string; policy: PolicyDecision };

const DEFAULT_MAX_HEADER_BYTES = 32 * 1024;

export class ProxyServer {
  readonly #options: ProxyServerOptions;
  readonly #logger: Logger;
  readonly #governor: Governor;
  readonly #forwarder: Forwarder;
  readonly #guard: TargetGuard;
  readonly #clock: Clock;
  readonly #activity: ClientActivity | undefined;
  /** Resolved when the last connection closes during a drain. */
  #onEmpty: (() => void) | undefined;
  readonly #clientTimeouts: ClientTimeouts;
  /** Parses requests arriving on the proxy port (CONNECT, absolute-URI, PAC). */
  readonly #front: http.Server;
  /** Parses requests inside terminated TLS connections. */
  readonly #inner: http.Server;
  readonly #listeners: net.Server[] = [];
  readonly #connections = new Set<ClientConnection>();
  readonly #bySocket = new WeakMap<net.Socket, ClientConnection>();
  readonly #intercepted = new WeakMap<tls.TLSSocket, InterceptedContext>();
  readonly #ownHostnames = [os.hostname().toLowerCase()];
  readonly #counters = new Map<string, number>();
  #tunnelsOpened = 0;
  #connectionsRefused = 0;
  #clientErrors = 0;
  #draining = false;
  #address: ProxyAddress | undefined;
  #pacPort: number | undefined;

  constructor(options: ProxyServerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#governor = options.governor ?? allowAllGovernor;
    this.#clientTimeouts = { ...DEFAULT_CLIENT_TIMEOUTS, ...options.clientTimeouts };
    this.#forwarder = options.forwarder;
    this.#guard = options.targetGuard ?? new TargetGuard();
    this.#clock = options.clock ?? systemClock;
    this.#activity = options.activity;
    const httpOptions: http.ServerOptions = {
      maxHeaderSize: options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      headersTimeout: this.#clientTimeouts.headersMs,
      requestTimeout: this.#clientTimeouts.requestMs,
      keepAliveTimeout: this.#clientTimeouts.keepAliveMs,
      connectionsCheckingInterval: Math.min(1000, this.#clientTimeouts.headersMs),
      // The CONNECT authority, not the Host header, decides where a request goes.
      requireHostHeader: false,
      noDelay: true,
    };
    this.#front = http.createServer(httpOptions);
    this.#inner = http.createServer(httpOptions);
    // Both servers are fed sockets with emit('connection') and never listen themselves. Node
    // starts the timer that enforces headersTimeout/requestTimeout on 'listening', so emit it:
    // without this a slow client could hold a connection open forever.
    this.#front.emit('listening');
    this.#inner.emit('listening');
    // Every request, CONNECT and upgrade arrives through one of these five listeners.
    const arrived = this.#activity ? () => this.#activity?.requestArrived() : () => undefined;
    this.#front.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => { arrived(); void this.#onConnect(req, socket as net.Socket, head); });
    this.#front.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => { arrived(); void this.#onFrontRequest(req, res); });
    this.#front.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => { arrived(); void this.#onFrontUpgrade(req, socket, head); });
    this.#inner.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => { arrived(); void this.#onInterceptedRequest(req, res); });
    this.#inner.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => { arrived(); void this.#onInterceptedUpgrade(req, socket, head); });
    this.#front.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(err, socket));
    this.#inner.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#onClientError(err, socket));
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Binds 127.0.0.1 and ::1 on the same port (and the optional PAC port). Never another interface. */
  async listen(): Promise<ProxyAddress> {
    const wantV6 = this.#options.listenIpv6 ?? true;
    // With port 0 the IPv4 port may be taken on ::1; try a few fresh ports before giving up.
    for (let attempt = 0; ; attempt++) {
      const v4 = await this.#bind('127.0.0.1', this.#options.port, (s) => this.#acceptProxy(s));
      const port = (v4.address() as net.AddressInfo).port;
      const listening: ListeningAddress[] = [{ address: '127.0.0.1', family: 'IPv4', port }];
      let retry = false;
      if (wantV6) {
        try {
          await this.#bind('::1', port, (s) => this.#acceptProxy(s));
          listening.push({ address: '::1', family: 'IPv6', port });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE' && this.#options.port === 0 && attempt < 5) {
            retry = true;
          } else if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') {
            this.#logger.info({ port }, 'no IPv6 loopback on this machine; proxy listens on 127.0.0.1 only');
          } else {
            await this.#closeListeners();
            throw new Error(`proxy cannot listen on [::1]:${port}: ${(err as Error).message}`, { cause: err });
          }
        }
      }
      if (retry) {
        await this.#closeListeners();
        continue;
      }
      if (this.#options.pacPort !== undefined) {
        const pac = await this.#bind('127.0.0.1', this.#options.pacPort, (s) => this.#acceptPacOnly(s));
        this.#pacPort = (pac.address() as net.AddressInfo).port;
      }
      const pacPort = this.#pacPort ?? port;
      this.#address = { port, listening, proxyUrl: `http://127.0.0.1:${port}`, pacUrl: `http://127.0.0.1:${pacPort}/proxy.pac` };
      this.#logger.info({ port, pac_url: this.#address.pacUrl, gateway: this.#forwarder.gatewayOrigin, addresses: listening.map((l) => l.address) }, 'proxy listening');
      return this.#address;
    }
  }

  address(): ProxyAddress {
    if (!this.#address) throw new Error('proxy is not listening yet: call listen() first');
    return this.#address;
  }

  /** Closes the listening sockets; established connections carry on. */
  stopAccepting(): void {
    for (const l of this.#listeners) l.close();
    this.#listeners.length = 0;
  }

  activeConnections(): number {
    return this.#connections.size;
  }

  /** Closes keep-alive connections with no request in progress. Tunnels and websockets stay. */
  closeIdle(): number {
    let closed = 0;
    for (const conn of this.#connections) {
      if ((conn.kind === 'http' || conn.kind === 'intercepted') && conn.inFlight === 0) {
        this.#closeGracefully(conn);
        closed++;
      }
    }
    return closed;
  }

  destroyAll(): void {
    for (const conn of this.#connections) {
      conn.tls?.destroy();
      conn.socket.destroy();
      this.#connections.delete(conn);
    }
  }

  /**
   * Graceful stop: no new connections, idle ones closed now, busy ones closed as their last
   * response finishes, and whatever is left (long streams, tunnels) cut at `deadline` (epoch ms,
   * as the daemon's lifecycle gives every service: the grace period ends at one instant for all).
   */
  async drain(deadline: number): Promise<{ cut: number }> {
    this.#draining = true;
    this.stopAccepting();
    this.closeIdle();
    if (this.#connections.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.setTimeout(() => resolve(), Math.max(0, deadline - this.#clock.now()));
        this.#onEmpty = () => {
          this.#clock.clearTimeout(timer);
          resolve();
        };
      });
      this.#onEmpty = undefined;
    }
    const cut = this.#connections.size;
    if (cut > 0) {
      this.#logger.warn({ connections: cut }, 'drain deadline reached; closing remaining proxy connections');
      this.destroyAll();
    }
    return { cut };
  }

  async close(): Promise<void> {
    this.#draining = true;
    this.stopAccepting();
    this.destroyAll();
    await Promise.all([closeServer(this.#front), closeServer(this.#inner)]);
  }

  stats(): ProxyStats {
    const byKind: Record<ConnectionKind, number> = { http: 0, tunnel: 0, intercepted: 0, upgraded: 0 };
    for (const c of this.#connections) byKind[c.kind]++;
    const exchanges = [...this.#counters].map(([key, count]) => {
      const [route = '', decision = 'error'] = key.split('|');
      return { route, decision: decision as ExchangeDecision, count };
    });
    return {
      activeConnections: this.#connections.size,
      connectionsByKind: byKind,
      exchanges,
      tunnelsOpened: this.#tunnelsOpened,
      connectionsRefused: this.#connectionsRefused,
      clientErrors: this.#clientErrors,
    };
  }

  // ---- accepting -----------------------------------------------------------------------------

  #bind(host: string, port: number, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
    // allowHalfOpen: a tunnelled client may finish sending and still be reading the reply.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, onConnection);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port, exclusive: true, ipv6Only: host === '::1' }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.#logger.error({ err: err.message, host, port }, 'proxy listener error'));
        this.#listeners.push(server);
        resolve(server);
      });
    });
  }

  async #closeListeners(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => new Promise((r) => l.close(r))));
    this.#listeners.length = 0;
  }

  #acceptProxy(socket: net.Socket): void {
    const conn: ClientConnection = { socket, kind: 'http', inFlight: 0 };
    this.#connections.add(conn);
    this.#bySocket.set(socket, conn);
    this.#activity?.connectionOpened();
    socket.once('close', () => {
      this.#connections.delete(conn);
      this.#activity?.connectionClosed();
      if (this.#connections.size === 0) this.#onEmpty?.();
    });
    this.#front.emit('connection', socket);
  }

  #acceptPacOnly(socket: net.Socket): void {
    // The PAC port shares the front parser; requests other than GET /proxy.pac get 404 there.
    this.#acceptProxy(socket);
  }

  // ---- plain HTTP on the proxy port --------------------------------------------------------

  async #onFrontRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if ((req.url ?? '').startsWith('/')) {
      this.#serveLocal(req, res);
      return;
    }
    await this.#proxyAbsolute(req, { kind: 'request', res });
  }

  async #onFrontUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    await this.#proxyAbsolute(req, { kind: 'upgrade', socket, head });
  }

  /**
   * An absolute-URI request on the proxy port (plain `http://` proxying), a request or a websocket
   * upgrade: a routing-table host is governed like an intercepted one; any other goes on, to an address
   * the target guard checked.
   */
  async #proxyAbsolute(req: http.IncomingMessage, io: ExchangeIo): Promise<void> {
    const to = io.kind === 'request' ? io.res : io.socket;
    const socket = (io.kind === 'request' ? req.socket : io.socket) as net.Socket;
    const conn = this.#bySocket.get(socket);
    let target: URL | undefined;
    try {
      target = new URL(req.url ?? '');
    } catch {
      target = undefined;
    }
    if (!conn || !socket.localPort || !target || target.protocol !== 'http:') {
      answer(to, textReply(400, 'Heimdall proxy: only absolute http:// URLs can be proxied this way; use CONNECT for https.'));
      return;
    }
    const authority = { host: stripBrackets(target.hostname), port: Number(target.port || 80) };
    if (this.#isSelf(authority)) {
      answer(to, textReply(508, 'Heimdall proxy: refusing a request to the proxy itself (proxy loop).'));
      return;
    }
    if (io.kind === 'upgrade') conn.kind = 'upgraded';
    const admission = await this.#plainAdmission(conn, socket, authority);
    if (isInterceptedHost(authority.host)) {
      req.url = target.pathname + target.search;
      await this.#exchange(req, io, { host: authority.host, transport: io.kind === 'request' ? 'http' : 'websocket', conn, admission });
      return;
    }
    if (admission.decision === 'refuse') {
      this.#connectionsRefused++;
      answer(to, textReply(403, `Heimdall: ${admission.reason}`));
      return;
    }
    const vetted = await this.#guard.vet(authority.host, authority.port);
    if (!vetted.ok) {
      this.#connectionsRefused++;
      answer(to, textReply(403, `Heimdall proxy: ${vetted.reason}.`));
      return;
    }
    const plain: ForwardTarget = { kind: 'plain', url: atAddress(target, vetted.address) };
    const requestId = requestIdFrom(req.headers, randomUUID);
    if (io.kind === 'request') {
      this.#trackRequest(conn, io.res);
      await this.#forwarder.forward(req, io.res, plain, requestId);
    } else {
      await this.#forwarder.upgrade(req, io.socket, io.head, plain, requestId);
    }
  }

  #serveLocal(req: http.IncomingMessage, res: http.ServerResponse): void {
    const port = req.socket.localPort ?? 0;
    if (!isLoopbackHostHeader(req.headers.host, port)) {
      answer(res, textReply(403, loopbackHostRefusal('the PAC file', req.headers.host, port)));
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    if ((req.method === 'GET' || req.method === 'HEAD') && path === '/proxy.pac') {
      const body = buildPacScript(interceptedHosts(), `127.0.0.1:${this.address().port}`);
      res.writeHead(200, { 'content-type': PAC_CONTENT_TYPE, 'content-length': Buffer.byteLength(body), 'cache-control': 'max-age=300' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    answer(res, textReply(404, 'This is the Heimdall local proxy. Configure it as your HTTP(S) proxy, or load /proxy.pac.'));
  }

  #plainAdmission(conn: ClientConnection, socket: net.Socket, target: Authority): Promise<ConnectionAdmission> {
    conn.plainAdmissions ??= new Map();
    const key = `${target.host}:${target.port}`;
    let admission = conn.plainAdmissions.get(key);
    if (!admission) {
      admission = this.#admit(socket, target, isInterceptedHost(target.host));
      conn.plainAdmissions.set(key, admission);
    }
    return admission;
  }

  // ---- CONNECT -------------------------------------------------------------------------------

  async #onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    // Node's parser let go of this socket: its errors are ours now.
    socket.on('error', (err) => {
      this.#logger.debug({ err: err.message }, 'client socket error');
      socket.destroy();
    });
    const conn = this.#bySocket.get(socket);
    const target = parseAuthority(req.url);
    if (!conn || !target) {
      this.#clientErrors++;
      answer(socket, textReply(400, 'Heimdall proxy: CONNECT needs a host:port target.'));
      return;
    }
    if (this.#isSelf(target)) {
      answer(socket, textReply(508, 'Heimdall proxy: refusing a CONNECT to the proxy itself (proxy loop).'));
      return;
    }
    let intercepted = target.port === 443 && isInterceptedHost(target.host);
    conn.kind = intercepted ? 'intercepted' : 'tunnel';
    const admission = await this.#admit(socket, target, intercepted);
    if (socket.destroyed) return;
    if (intercepted && admission.decision === 'refuse' && admission.atConnect) intercepted = false;
    if (intercepted && admission.decision === 'admit' && admission.tunnel) {
      this.#logger.info({ host: target.host, app: admission.attribution.appId }, 'tunnelling an intercepted host for an app that pins its certificates');
      intercepted = false;
      conn.kind = 'tunnel';
    }
    if (intercepted) {
      await this.#terminateTls(conn, target, admission, head);
      return;
    }
    if (admission.decision === 'refuse') {
      this.#connectionsRefused++;
      this.#logger.info({ host: target.host, port: target.port, app: admission.attribution.appId, reason: admission.reason }, 'CONNECT refused');
      answer(socket, textReply(403, `Heimdall: ${admission.reason}`));
      return;
    }
    const vetted = await this.#guard.vet(target.host, target.port);
    if (socket.destroyed) return;
    if (!vetted.ok) {
      this.#connectionsRefused++;
      this.#logger.info({ host: target.host, port: target.port, app: admission.attribution.appId, reason: vetted.reason }, 'CONNECT to a local address refused');
      answer(socket, textReply(403, `Heimdall proxy: ${vetted.reason}.`));
      return;
    }
    this.#tunnel(socket, { host: vetted.address, port: target.port }, head);
  }

  async #admit(socket: net.Socket, target: Authority, intercepted: boolean): Promise<ConnectionAdmission> {
    const info: ConnectionInfo = {
      clientAddress: socket.remoteAddress ?? '',
      clientPort: socket.remotePort ?? 0,
      proxyAddress: socket.localAddress ?? '',
      proxyPort: socket.localPort ?? 0,
      family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
      targetHost: target.host,
      targetPort: target.port,
      intercepted,
    };
    try {
      return await this.#governor.admitConnection(info);
    } catch (err) {
      // The governor applies fail_mode itself; an exception here is a bug, and failing closed is safe.
      this.#logger.error({ err: (err as Error).message, host: target.host }, 'governor failed to admit a connection; refusing it');
      return { decision: 'refuse', reason: 'Heimdall could not check this connection against policy.', attribution: { routingMode: 'gateway' }, policy: UNDECIDED };
    }
  }

  /** A raw byte tunnel: nothing in it is parsed, logged or changed. */
  #tunnel(client: net.Socket, target: Authority, head: Buffer): void {
    const connectMs = this.#options.tunnelConnectMs ?? DEFAULT_FORWARD_TIMEOUTS.connectMs;
    const upstream = net.connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    let established = false;
    const connectTimer = setTimeout(() => upstream.destroy(new Error(`connect timeout after ${connectMs} ms`)), connectMs);
    upstream.once('connect', () => {
      clearTimeout(connectTimer);
      established = true;
      this.#tunnelsOpened++;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (!established) {
        this.#logger.info({ host: target.host, port: target.port, err: err.code ?? err.message }, 'tunnel target unreachable');
        answer(client, textReply(502, `Heimdall proxy: cannot reach ${target.host}:${target.port} (${err.code ?? err.message}).`));
      } else {
        client.destroy();
      }
    });
    // Half-close travels through pipe(); a full close or an error on either side ends both.
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  }

  /** Terminates TLS with a leaf for the CONNECT host, then serves HTTP/1.1 on it. */
  async #terminateTls(conn: ClientConnection, target: Authority, admission: ConnectionAdmission, head: Buffer): Promise<void> {
    const socket = conn.socket;
    let context: tls.SecureContext;
    try {
      context = await this.#options.certificates.secureContextFor(target.host);
    } catch (err) {
      this.#logger.error({ host: target.host, err: (err as Error).message }, 'no certificate for an intercepted host');
      answer(socket, textReply(502, `Heimdall proxy: no certificate available for ${target.host}.`));
      return;
    }
    if (socket.destroyed) return;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const tlsSocket = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: context,
      ALPNProtocols: ['http/1.1'],
      // The CONNECT host chose the certificate; a ClientHello naming another host is refused
      // (the handshake fails with an alert) rather than served under the wrong name.
      SNICallback: (servername, cb) => {
        if (servername.toLowerCase().replace(/\.$/, '') === target.host) cb(null, context);
        else {
          this.#logger.warn({ connect_host: target.host, sni: servername }, 'TLS SNI does not match the CONNECT host; closing');
          cb(new Error(`SNI ${servername} does not match CONNECT ${target.host}`), undefined);
        }
      },
    });
    conn.tls = tlsSocket;
    const handshakeTimer = setTimeout(() => tlsSocket.destroy(), this.#clientTimeouts.tlsHandshakeMs);
    tlsSocket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(handshakeTimer);
      this.#logger.debug({ host: target.host, err: err.code ?? err.message }, 'intercepted TLS connection error');
      tlsSocket.destroy();
      socket.destroy();
    });
    tlsSocket.once('close', () => {
      clearTimeout(handshakeTimer);
      socket.destroy();
    });
    tlsSocket.once('secure', () => {
      clearTimeout(handshakeTimer);
      this.#intercepted.set(tlsSocket, { conn, target, admission });
      this.#inner.emit('connection', tlsSocket);
    });
  }

  // ---- requests inside intercepted TLS -------------------------------------------------------

  async #onInterceptedRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const ctx = this.#intercepted.get(req.socket as tls.TLSSocket);
    if (!ctx) {
      res.destroy();
      return;
    }
    const given = req.headers.host;
    if (given !== ctx.acceptedHost) {
      if (!this.#checkHost(req, ctx.target.host)) {
        answer(res, textReply(421, `Heimdall proxy: this connection is for ${ctx.target.host}; the request names another host.`));
        return;
      }
      ctx.acceptedHost = given;
    }
    await this.#exchange(req, { kind: 'request', res }, { host: ctx.target.host, transport: 'https', conn: ctx.conn, admission: ctx.admission });
  }

  async #onInterceptedUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const ctx = this.#intercepted.get(socket as tls.TLSSocket);
    if (!ctx) {
      socket.destroy();
      return;
    }
    if (!this.#checkHost(req, ctx.target.host)) {
      answer(socket, textReply(421, `Heimdall proxy: this connection is for ${ctx.target.host}; the request names another host.`));
      return;
    }
    ctx.conn.kind = 'upgraded';
    await this.#exchange(req, { kind: 'upgrade', socket, head }, { host: ctx.target.host, transport: 'websocket', conn: ctx.conn, admission: ctx.admission });
  }

  /** A Host header, when present, must name the host the connection was opened to. */
  #checkHost(req: http.IncomingMessage, host: string): boolean {
    const given = req.headers.host;
    if (!given) return true;
    const parsed = parseAuthority(given.includes(':') && !given.endsWith(']') ? given : `${given}:443`);
    return parsed?.host === host;
  }

  // ---- governance + forwarding -------------------------------------------------------------

  /**
   * One governed exchange, a request or a websocket upgrade: decide, then forward or answer, then
   * record it with the decision that was enforced.
   */
  async #exchange(req: http.IncomingMessage, io: ExchangeIo, ex: GovernedExchange): Promise<void> {
    const started = performance.now();
    // The wall clock is read now and formatted when the record is written, after the answer.
    const startedMs = Date.now();
    if (io.kind === 'request') this.#trackRequest(ex.conn, io.res);
    const to = io.kind === 'request' ? io.res : io.socket;
    const requestId = requestIdFrom(req.headers, randomUUID);
    const pathOnly = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const route = resolveRoute(ex.host, pathOnly);
    if (!route || !pathOnly.startsWith('/')) {
      answer(to, textReply(400, 'Heimdall proxy: malformed request path.'));
      return;
    }
    const attribution = ex.admission.attribution;
    let decision = UNDECIDED;
    const record = (status: number, outcome: ExchangeDecision, bytesIn: number, bytesOut: number, reason?: string): void =>
      this.#record({
        attribution, host: ex.host, routeId: route.id, provider: route.provider, destination: destinationOf(route, attribution),
        transport: ex.transport, method: req.method ?? 'GET', path: pathOnly, status, bytesIn, bytesOut,
        latencyMs: Math.round((performance.now() - started) * 1000) / 1000, requestId, outcome, decision, startedAt: new Date(startedMs).toISOString(),
        ...(reason ? { reason } : {}),
      });
    try {
      const verdict = await this.#verdict(req, route, ex, pathOnly);
      decision = verdict.policy;
      if (verdict.kind === 'block') {
        const reply = this.#blockReply(req, route, ex.host, verdict.message, { appId: attribution.appId, transport: transportOf(io), path: pathOnly });
        answerFinal(req, io, reply);
        record(reply.status, 'blocked', 0, 0, verdict.message);
        return;
      }
      // The user's identity goes to the gateway with this exchange: never for a page of another site.
      const page = route.mode === 'origin' ? undefined : foreignPageOrigin(req.headers, ex.host);
      if (page !== undefined) {
        const message = `Heimdall does not lend your organization's AI access to a web page of another site (${page}). Use an approved app, or the provider's own site.`;
        const reply = providerReply(route.errorShape, 'blocked', message, this.#options.supportUrl);
        answer(to, reply);
        record(reply.status, 'blocked', 0, 0, `page of another site: ${page}`);
        return;
      }
      const target = await this.#forwardTarget(route, attribution, ex.host);
      if ('error' in target) {
        const reply = finalReply(route.errorShape, target.error, '', this.#options.supportUrl, { appId: attribution.appId, transport: transportOf(io), path: pathOnly });
        answerFinal(req, io, reply);
        record(reply.status, 'blocked', 0, 0, target.error);
        return;
      }
      const result: ForwardResult = io.kind === 'request'
        ? await this.#forwarder.forward(req, io.res, target, requestId)
        : await this.#forwarder.upgrade(req, io.socket, io.head, target, requestId);
      record(result.status, result.outcome, result.bytesIn, result.bytesOut, result.errorKind);
    } catch (err) {
      this.#logger.error({ err: (err as Error).message, host: ex.host, route: route.id, request_id: requestId, transport: ex.transport }, 'exchange failed inside Heimdall');
      // A websocket half-way through its upgrade has no error shape a client would read: cut it.
      const reply = providerReply(route.errorShape, 'internal', (err as Error).message, this.#options.supportUrl);
      if (io.kind === 'request') answer(io.res, reply);
      else io.socket.destroy();
      record(io.kind === 'request' ? reply.status : 500, 'error', 0, 0, 'internal');
    }
  }

  async #verdict(req: http.IncomingMessage, route: Route, ex: GovernedExchange, path: string): Promise<Verdict> {
    if (ex.admission.decision === 'refuse') return { kind: 'block', message: ex.admission.reason, policy: ex.admission.policy };
    const decision = await this.#governor.admitRequest(ex.admission.attribution, new GovernedRequest(req, ex.host, path, route));
    return decision.decision === 'block' ? { kind: 'block', message: decision.message, policy: decision.policy } : { kind: 'allow', policy: decision.policy };
  }

  async #forwardTarget(route: Route, attribution: Attribution, host: string): Promise<ForwardTarget | { error: 'not_signed_in' }> {
    if (route.mode === 'origin') return { kind: 'origin', route, host };
    const credential = await this.#options.getCredential(attribution);
    if (!credential) return { error: 'not_signed_in' };
    return { kind: 'gateway', route, passthrough: attribution.routingMode === 'passthrough', credential, appId: attribution.appId };
  }

  /**
   * A browser navigating to a blocked consumer surface gets a page; an app (and the page's own API
   * calls) gets its provider's error in the form the block table gives for that app.
   */
  #blockReply(req: http.IncomingMessage, route: Route, host: string, message: string, app: { appId: string | undefined; transport: 'http' | 'websocket'; path: string }): Reply {
    const wantsHtml = req.method === 'GET' && /\btext\/html\b/.test(String(req.headers.accept ?? ''));
    if (route.mode === 'origin' && route.surface === 'consumer' && wantsHtml) {
      return blockPageReply({ host, message, supportUrl: this.#options.supportUrl, organization: this.#options.organization });
    }
    return finalReply(route.errorShape, 'blocked', message, this.#options.supportUrl, app);
  }

  #record(record: ExchangeRecord): void {
    const key = `${record.routeId}|${record.outcome}`;
    this.#counters.set(key, (this.#counters.get(key) ?? 0) + 1);
    try {
      this.#options.onExchangeComplete?.(record);
    } catch (err) {
      this.#logger.error({ err: (err as Error).message }, 'exchange audit hook threw');
    }
  }

  #trackRequest(conn: ClientConnection, res: http.ServerResponse): void {
    conn.inFlight++;
    res.once('close', () => {
      conn.inFlight--;
      if (this.#draining && conn.inFlight === 0 && (conn.kind === 'http' || conn.kind === 'intercepted')) this.#closeGracefully(conn);
    });
  }

  #closeGracefully(conn: ClientConnection): void {
    if (conn.tls) conn.tls.end();
    else conn.socket.end();
    // A peer that never acknowledges the close must not hold the drain.
    this.#clock.setTimeout(() => conn.socket.destroy(), 1000).unref();
  }

  // ---- errors and guards ---------------------------------------------------------------------

  #onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    this.#clientErrors++;
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const message = status === 431
      ? `Heimdall proxy: request headers exceed ${this.#options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES} bytes.`
      : status === 408 ? 'Heimdall proxy: the request was not received in time.' : 'Heimdall proxy: malformed HTTP request.';
    this.#logger.debug({ code: err.code, status }, 'client error');
    answer(socket, textReply(status, message));
  }

  #isSelf(target: Authority): boolean {
    const ports = new Set([this.#address?.port, this.#pacPort]);
    // Canonical first: `127.1` and `0x7f000001` name the loopback as surely as `127.0.0.1` does.
    return ports.has(target.port) && isLocalHost(canonicalHost(target.host) ?? target.host, this.#ownHostnames);
  }
}

/**
 * What the governor sees of one request. The cleaned headers are built only if it reads them (the
 * daemon's does not). A class rather than an object literal with a getter: V8 gives every such
 * literal a hidden class of its own, allocated in old space, and those kept each request's objects
 * alive until the next full collection (3-6 ms scavenges, ~5 KB promoted per request).
 */
class GovernedRequest implements RequestInfo {
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly route: Route;
  readonly #req: http.IncomingMessage;
  #headers: Readonly<Record<string, string>> | undefined;

  constructor(req: http.IncomingMessage, host: string, path: string, route: Route) {
    this.#req = req;
    this.host = host;
    this.method = req.method ?? 'GET';
    this.path = path;
    this.route = route;
  }

  get headers(): Readonly<Record<string, string>> {
    return (this.#headers ??= headersWithoutSecrets(this.#req.headers));
  }
}

/** A final refusal: on the upgrade's own socket in band when the block table says so, else as an answer. */
function answerFinal(req: http.IncomingMessage, io: ExchangeIo, reply: Reply): void {
  if (io.kind === 'upgrade' && reply.inBand === 'responses-websocket') {
    refuseInResponsesWebsocket(req, io.socket, io.head, reply.body);
    return;
  }
  answer(io.kind === 'request' ? io.res : io.socket, reply);
}

function transportOf(io: ExchangeIo): 'http' | 'websocket' {
  return io.kind === 'upgrade' ? 'websocket' : 'http';
}

function destinationOf(route: Route, attribution: Attribution): ExchangeRecord['destination'] {
  if (route.mode === 'origin') return 'origin';
  return attribution.routingMode === 'passthrough' || route.credentialPolicy === 'native-only' ? 'passthrough' : 'gateway';
}

/** The URL with its host replaced by the address the guard checked (its Host header is the app's own). */
function atAddress(url: URL, address: string): URL {
  const at = new URL(url);
  at.hostname = address.includes(':') ? `[${address}]` : address;
  return at;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1).toLowerCase() : host.toLowerCase();
}

function closeServer(server: http.Server): Promise<void> {
  // These servers never listened; close() still stops their connection-checking timer.
  return new Promise((resolve) => server.close(() => resolve()));
}
