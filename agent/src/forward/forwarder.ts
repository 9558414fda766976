// Forwards one intercepted exchange to its next hop: the organization's gateway (governed
// inference), the real origin (intercepted for policy and audit only), or any host for plain
// `http://` proxying. The gateway is reached through ./gateway-client.ts, origins and plain hosts
// through Node's own HTTP client over keep-alive agents; websocket upgrades in ./upgrade.ts. Bodies
// stream both ways with backpressure; nothing here waits to buffer one (a small request body that
// already arrived whole is sent as one piece). (The brief named http-proxy; its layer cost ~30% of
// the proxy's CPU per request, see docs/architecture.md.)
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../lib/logger.ts';
import { isPlainTextToNetwork } from '../lib/loopback-host.ts';
import { DnsCache, type DnsCacheOptions, type LookupFunction } from './dns-cache.ts';
import { providerError, type ErrorKind } from './error-shapes.ts';
import { applyGatewayHeaders, endToEndFields, removeHopByHop, stripCredentialQuery, type GatewayCredential } from './headers.ts';
import { gatewayPath, type ErrorShapeId, type GatewayRouteRow, type OriginRouteRow } from './routes.ts';
import { ForwardTimeoutError, GatewayClient, type GatewayCall } from './gateway-client.ts';
import { osTrustContext, trustedRoots } from './trusted-roots.ts';
import { forwardUpgrade, type UpgradeFailure } from './upgrade.ts';

export interface ForwardTimeouts {
  /** TCP connect to the next hop. */
  connectMs: number;
  /** From sending the request until the response's status line and headers arrive. */
  responseHeadersMs: number;
  /** Longest silence within a response body (an SSE stream) before the exchange is cut. */
  idleStreamMs: number;
}

export const DEFAULT_FORWARD_TIMEOUTS: ForwardTimeouts = {
  connectMs: 10_000,
  // A non-streaming completion sends no header until the model is done: minutes, not seconds.
  responseHeadersMs: 300_000,
  idleStreamMs: 300_000,
};

/** Where an origin-mode host really lives. Production: the host itself on 443, system roots. */
export interface OriginTarget {
  /** `https://host[:port]` */
  url: string;
  /** Name to present in SNI and verify the certificate against (defaults to the URL's host). */
  servername?: string;
  /** Extra trusted CA (tests only). */
  ca?: string;
}

export type OriginResolver = (host: string) => OriginTarget;

export const productionOriginResolver: OriginResolver = (host) => ({ url: `https://${host}` });

export interface ForwarderOptions {
  gatewayUrl: string;
  /** PEM of an extra CA trusted for an https gateway, on top of the system roots (tests, private PKI). */
  gatewayCa?: string;
  deviceId: string;
  /** The current device token (auth room's DeviceTokens.current), sent to the gateway with each request. */
  deviceToken?: () => string | undefined;
  supportUrl?: string;
  timeouts?: Partial<ForwardTimeouts>;
  /** Tests point origin-mode routes at a local server; production leaves this unset. */
  resolveOrigin?: OriginResolver;
  dns?: Omit<DnsCacheOptions, 'logger'>;
  logger: Logger;
}

export type ForwardTarget =
  | { kind: 'gateway'; route: GatewayRouteRow; passthrough: boolean; credential: GatewayCredential; appId: string | undefined }
  | { kind: 'origin'; route: OriginRouteRow; host: string }
  | { kind: 'plain'; url: URL; errorShape?: ErrorShapeId };

export interface ForwardResult {
  status: number;
  /** Request body bytes sent on. */
  bytesIn: number;
  /** Response body bytes returned to the app. */
  bytesOut: number;
  outcome: 'forwarded' | 'error';
  errorKind?: ErrorKind;
}

/** Where one request goes, and how to reach it. */
interface NextHop {
  origin: URL;
  path: string;
  connection: ConnectionSettings;
  /** Node's keep-alive agent for the hop (origins and plain hosts; the gateway has its own client). */
  agent?: http.Agent;
  servername?: string;
}

/** How sockets to a next hop are opened (upgrades open theirs unpooled with these). */
interface ConnectionSettings {
  secureContext?: tls.SecureContext;
  lookup?: LookupFunction;
}

interface OriginPool extends ConnectionSettings {
  agent: http.Agent;
}

const KEEP_ALIVE = { keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: 64, scheduling: 'lifo' as const };

export class Forwarder {
  readonly #gateway: URL;
  readonly #gatewayConnection: ConnectionSettings;
  readonly #gatewayClient: GatewayClient;
  readonly #originPools = new Map<string, OriginPool>();
  readonly #plainPool: OriginPool;
  readonly #dns: DnsCache;
  readonly #timeouts: ForwardTimeouts;
  readonly #resolveOrigin: OriginResolver;
  readonly #deviceId: string;
  readonly #deviceToken: () => string | undefined;
  readonly #supportUrl: string | undefined;
  readonly #logger: Logger;

  constructor(options: ForwarderOptions) {
    this.#gateway = new URL(options.gatewayUrl);
    if (this.#gateway.protocol !== 'http:' && this.#gateway.protocol !== 'https:') {
      throw new Error(`gateway_url ${options.gatewayUrl}: expected an http:// or https:// URL`);
    }
    // Virtual keys ride on every forwarded request: the config validator refuses this already, and the
    // forwarder refuses it again so no other caller can build a plain-text path to the network.
    if (isPlainTextToNetwork(this.#gateway)) {
      throw new Error(`gateway_url ${this.#gateway.origin} is plain http to a host other than loopback; virtual keys would cross the network unencrypted: use https://`);
    }
    this.#timeouts = { ...DEFAULT_FORWARD_TIMEOUTS, ...options.timeouts };
    this.#resolveOrigin = options.resolveOrigin ?? productionOriginResolver;
    this.#deviceId = options.deviceId;
    this.#deviceToken = options.deviceToken ?? (() => undefined);
    this.#supportUrl = options.supportUrl;
    this.#logger = options.logger;
    this.#dns = new DnsCache({ ...options.dns, logger: options.logger });
    // One SecureContext for every gateway connection: passing `ca` instead would parse the whole
    // root store again for each new socket (tens of ms and about a megabyte each).
    const lookup = this.#dns.lookup;
    if (this.#gateway.protocol === 'https:') {
      const secureContext = options.gatewayCa ? tls.createSecureContext({ ca: trustedRoots(options.gatewayCa) }) : osTrustContext();
      this.#gatewayConnection = { secureContext, lookup };
    } else {
      this.#gatewayConnection = { lookup };
    }
    this.#gatewayClient = new GatewayClient({
      origin: this.#gateway, lookup, connectTimeoutMs: this.#timeouts.connectMs,
      ...(this.#gatewayConnection.secureContext ? { secureContext: this.#gatewayConnection.secureContext } : {}),
    });
    this.#plainPool = { agent: new http.Agent(KEEP_ALIVE) };
  }

  /** The gateway's origin, for logs and status. */
  get gatewayOrigin(): string {
    return this.#gateway.origin;
  }

  /** Writes a provider-shaped error response (used by the governance layer too). */
  sendError(res: http.ServerResponse, shape: ErrorShapeId, kind: ErrorKind, detail: string): void {
    const err = providerError(shape, kind, detail, this.#supportUrl);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(err.body), 'x-heimdall-error': kind });
    res.end(err.body);
  }

  /** Forwards a request and resolves when the exchange is over (response finished or broken). */
  forward(req: http.IncomingMessage, res: http.ServerResponse, target: ForwardTarget, requestId: string): Promise<ForwardResult> {
    const hasBody = requestHasBody(req);
    const hop = this.#nextHop(req, target, requestId, false);
    return target.kind === 'gateway'
      ? this.#forwardToGateway(req, res, hop, target, hasBody, requestId)
      : this.#forwardWithNodeClient(req, res, hop, target, hasBody, requestId);
  }

  #forwardToGateway(req: http.IncomingMessage, res: http.ServerResponse, hop: NextHop, target: ForwardTarget, hasBody: boolean, requestId: string): Promise<ForwardResult> {
    const { responseHeadersMs, idleStreamMs } = this.#timeouts;
    return new Promise<ForwardResult>((resolve) => {
      let bytesIn = 0;
      let bytesOut = 0;
      let idleCut = false;
      let errorKind: ErrorKind | undefined;
      let idleTimer: NodeJS.Timeout | undefined;
      const inHand = hasBody ? bodyInHand(req) : undefined;
      if (inHand) bytesIn = inHand.length;
      const call: GatewayCall = this.#gatewayClient.request({ method: req.method ?? 'GET', path: hop.path, headers: req.headers, body: inHand ?? (hasBody ? req : null) }, {
        head: (answer) => {
          clearTimeout(headersTimer);
          res.writeHead(answer.status, answer.statusMessage, endToEndFields(answer.rawHeaders));
          // A stream that goes silent is cut, not ended cleanly: the app must not mistake a
          // truncated answer for a complete one.
          idleTimer = setTimeout(() => {
            idleCut = true;
            call.abort();
            res.destroy();
          }, idleStreamMs);
        },
        body: (chunk, last) => {
          bytesOut += chunk.length;
          if (!last) {
            idleTimer?.refresh();
            return res.write(chunk);
          }
          // The whole answer in hand: head and body leave in one write, with no empty end write.
          clearTimeout(idleTimer);
          res.end(chunk);
          return true;
        },
        end: () => {
          clearTimeout(idleTimer);
          if (!res.writableEnded) res.end();
        },
        fail: (err) => {
          clearTimeout(headersTimer);
          clearTimeout(idleTimer);
          errorKind = this.#answerFailure(res, target, err, requestId, idleCut) ?? errorKind;
        },
      });
      const headersTimer = setTimeout(() => {
        call.abort();
        errorKind = this.#answerFailure(res, target, new ForwardTimeoutError('response-headers', responseHeadersMs), requestId, idleCut);
      }, responseHeadersMs);
      res.on('drain', () => call.resume());
      res.once('close', () => {
        clearTimeout(headersTimer);
        clearTimeout(idleTimer);
        // The app went away before the answer was complete: stop the gateway request too.
        if (!res.writableFinished) call.abort();
        resolve(resultOf(res, bytesIn, bytesOut, errorKind, idleCut));
      });
      if (hasBody && !inHand) req.on('data', (chunk: Buffer) => { bytesIn += chunk.length; });
    });
  }

  #forwardWithNodeClient(req: http.IncomingMessage, res: http.ServerResponse, hop: NextHop, target: ForwardTarget, hasBody: boolean, requestId: string): Promise<ForwardResult> {
    const { connectMs, responseHeadersMs, idleStreamMs } = this.#timeouts;
    return new Promise<ForwardResult>((resolve) => {
      let bytesIn = 0;
      let bytesOut = 0;
      let idleCut = false;
      let errorKind: ErrorKind | undefined;
      let connectTimer: NodeJS.Timeout | undefined;
      let idleTimer: NodeJS.Timeout | undefined;
      const upstream = requestModule(hop).request(requestOptions(req, hop, hop.agent ?? false));
      const headersTimer = setTimeout(() => upstream.destroy(new ForwardTimeoutError('response-headers', responseHeadersMs)), responseHeadersMs);
      const clearTimers = (): void => {
        clearTimeout(headersTimer);
        clearTimeout(connectTimer);
        clearTimeout(idleTimer);
      };

      res.once('close', () => {
        clearTimers();
        // The app went away before the answer was complete: stop the upstream request too.
        if (!res.writableFinished) upstream.destroy();
        resolve(resultOf(res, bytesIn, bytesOut, errorKind, idleCut));
      });

      upstream.once('socket', (socket: net.Socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => upstream.destroy(new ForwardTimeoutError('connect', connectMs)), connectMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });

      upstream.once('response', (answer: http.IncomingMessage) => {
        clearTimeout(headersTimer);
        removeHopByHop(answer.headers, false);
        res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        idleTimer = setTimeout(() => {
          idleCut = true;
          answer.destroy();
          res.destroy();
        }, idleStreamMs);
        answer.on('data', (chunk: Buffer) => {
          bytesOut += chunk.length;
          idleTimer?.refresh();
        });
        answer.once('error', () => res.destroy());
        answer.pipe(res);
      });

      upstream.on('error', (err: NodeJS.ErrnoException) => {
        clearTimers();
        errorKind = this.#answerFailure(res, target, err, requestId, idleCut) ?? errorKind;
      });

      if (hasBody) {
        req.on('data', (chunk: Buffer) => { bytesIn += chunk.length; });
        req.pipe(upstream);
      } else {
        upstream.end();
      }
    });
  }

  /**
   * Tells the app a forwarding failure in its provider's error shape (or cuts a response already
   * under way). Returns the error kind, or undefined when the app had already left.
   */
  #answerFailure(res: http.ServerResponse, target: ForwardTarget, err: NodeJS.ErrnoException, requestId: string, idleCut: boolean): ErrorKind | undefined {
    if (res.destroyed || idleCut) return undefined; // the app left first, or the idle cut is under way
    const kind = classify(err, target);
    this.#logger.warn({ err: err.message, code: err.code, next_hop: describe(target, this.#gateway), request_id: requestId }, 'forwarding failed');
    if (res.headersSent) res.destroy();
    else this.sendError(res, shapeOf(target), kind, detailFor(target, this.#gateway, err));
    return kind;
  }

  /** Forwards a websocket upgrade (Codex opens `GET /v1/responses` as a websocket). */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, requestId: string): Promise<ForwardResult> {
    const shape = shapeOf(target);
    const hop = this.#nextHop(req, target, requestId, true);
    return new Promise<ForwardResult>((resolve) => {
      let result: ForwardResult = { status: 101, bytesIn: 0, bytesOut: 0, outcome: 'forwarded' };
      socket.once('close', () => resolve(result));
      forwardUpgrade(requestModule(hop).request(requestOptions(req, hop, false)), socket, head, this.#timeouts, {
        onAnswer: (status) => { result = { ...result, status }; },
        onFailure: (failure: UpgradeFailure) => {
          const err: NodeJS.ErrnoException = failure.phase === 'network' ? failure.error : new Error(`${failure.phase} timeout after ${failure.timeoutMs} ms`);
          const kind: ErrorKind = failure.phase === 'response-headers' ? 'gateway_timeout' : unreachable(target);
          this.#logger.warn({ err: err.message, code: err.code, next_hop: describe(target, this.#gateway), request_id: requestId }, 'websocket forwarding failed');
          const e = providerError(shape, kind, detailFor(target, this.#gateway, err), this.#supportUrl);
          result = { status: e.status, bytesIn: 0, bytesOut: 0, outcome: 'error', errorKind: kind };
          writeRawError(socket, e.status, e.body);
        },
      });
    });
  }

  /** Drops pooled connections (shutdown). */
  close(): void {
    this.#gatewayClient.close();
    this.#plainPool.agent.destroy();
    for (const pool of this.#originPools.values()) pool.agent.destroy();
  }

  /** Rewrites the request's headers and path for its next hop (in place) and says where that is. */
  #nextHop(req: http.IncomingMessage, target: ForwardTarget, requestId: string, isUpgrade: boolean): NextHop {
    removeHopByHop(req.headers, isUpgrade);
    // The proxy already answered `100 Continue` to the app; the next hop gets the body directly.
    delete req.headers.expect;
    const pathAndQuery = req.url ?? '/';
    switch (target.kind) {
      case 'gateway': {
        applyGatewayHeaders(req.headers, {
          route: target.route, passthrough: target.passthrough, credential: target.credential,
          requestId, appId: target.appId, deviceId: this.#deviceId, deviceToken: this.#deviceToken(),
        });
        // The gateway is addressed by its own name, not the provider's.
        req.headers.host = this.#gateway.host;
        const keepNative = target.passthrough || target.route.credentialPolicy === 'native-only';
        const cleaned = keepNative ? pathAndQuery : stripCredentialQuery(pathAndQuery, target.route.credentialQueryParams);
        return { origin: this.#gateway, path: joinPath(this.#gateway, gatewayPath(target.route, target.passthrough, cleaned)), connection: this.#gatewayConnection };
      }
      case 'origin': {
        // The origin sees the app's own request: its headers, its credential, its Host.
        const origin = this.#resolveOrigin(target.host);
        const url = new URL(origin.url);
        const servername = origin.servername ?? (net.isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname);
        const pool = this.#originPool(origin.ca);
        return { origin: url, path: pathAndQuery, connection: pool, agent: pool.agent, ...(servername ? { servername } : {}) };
      }
      case 'plain':
        return { origin: target.url, path: target.url.pathname + target.url.search, connection: this.#plainPool, agent: this.#plainPool.agent };
    }
  }

  #originPool(ca: string | undefined): OriginPool {
    const key = ca ?? '';
    let pool = this.#originPools.get(key);
    if (!pool) {
      const secureContext = ca ? tls.createSecureContext({ ca: trustedRoots(ca) }) : undefined;
      pool = { agent: new https.Agent({ ...KEEP_ALIVE, maxFreeSockets: 32, ...(secureContext ? { secureContext } : {}) }), ...(secureContext ? { secureContext } : {}) };
      this.#originPools.set(key, pool);
    }
    return pool;
  }
}

/** Largest body taken whole from the app's request instead of streamed. */
const BODY_IN_HAND_LIMIT = 256 * 1024;

/**
 * The request body as one buffer when all of it has already arrived (the usual JSON call, received
 * with its head), else undefined and it is streamed. `complete` is not set yet at this point (the
 * parser's message-complete callback comes later), so the declared length decides: the parser never
 * hands over more than Content-Length bytes.
 */
function bodyInHand(req: http.IncomingMessage): Buffer | undefined {
  const length = req.headers['content-length'];
  if (length === undefined || req.readableLength === 0 || req.readableLength > BODY_IN_HAND_LIMIT || req.readableLength !== Number(length)) return undefined;
  const parts: Buffer[] = [];
  for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) parts.push(chunk);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** A request carries a body when it says so (RFC 9112 6.3); read before hop-by-hop removal. */
function requestHasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function requestModule(hop: NextHop): typeof http | typeof https {
  return hop.origin.protocol === 'https:' ? https : http;
}

/** Options for the next hop's request; `agent: false` for an upgrade (its socket is never reused). */
function requestOptions(req: http.IncomingMessage, hop: NextHop, agent: http.Agent | false): https.RequestOptions {
  const { secureContext, lookup } = hop.connection;
  return {
    host: hop.origin.hostname.replace(/^\[|\]$/g, ''),
    port: hop.origin.port || (hop.origin.protocol === 'https:' ? 443 : 80),
    method: req.method ?? 'GET',
    path: hop.path,
    headers: req.headers,
    agent,
    // With a pooled agent these come from the agent; an unpooled request needs them itself.
    ...(agent === false && lookup ? { lookup } : {}),
    ...(agent === false && secureContext ? { secureContext } : {}),
    ...(hop.servername ? { servername: hop.servername } : {}),
  };
}

/** The gateway URL may carry a base path (`https://gw.example.com/bifrost`). */
function joinPath(base: URL, path: string): string {
  const prefix = base.pathname.replace(/\/+$/, '');
  return prefix ? prefix + path : path;
}

function unreachable(target: ForwardTarget): ErrorKind {
  return target.kind === 'gateway' ? 'gateway_unreachable' : 'origin_unreachable';
}

function shapeOf(target: ForwardTarget): ErrorShapeId {
  return target.kind === 'plain' ? (target.errorShape ?? 'openai') : target.route.errorShape;
}

function resultOf(res: http.ServerResponse, bytesIn: number, bytesOut: number, errorKind: ErrorKind | undefined, idleCut: boolean): ForwardResult {
  return {
    status: res.statusCode, bytesIn, bytesOut,
    outcome: errorKind || idleCut || !res.writableFinished ? 'error' : 'forwarded',
    ...(errorKind ? { errorKind } : {}),
  };
}

function classify(err: Error, target: ForwardTarget): ErrorKind {
  if (err instanceof ForwardTimeoutError && err.phase === 'response-headers') return 'gateway_timeout';
  return unreachable(target);
}

function describe(target: ForwardTarget, gateway: URL): string {
  switch (target.kind) {
    case 'gateway': return gateway.host;
    case 'origin': return target.host;
    case 'plain': return target.url.host;
  }
}

function detailFor(target: ForwardTarget, gateway: URL, err: NodeJS.ErrnoException): string {
  return `${describe(target, gateway)}: ${err instanceof ForwardTimeoutError ? err.message : (err.code ?? err.message)}`;
}


/** Answers on a socket that has no ServerResponse (an upgrade that failed before 101). */
export function writeRawError(socket: Duplex, status: number, body: string, contentType = 'application/json'): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
    `content-type: ${contentType}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
