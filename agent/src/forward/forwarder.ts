// Forwards one intercepted exchange to its next hop: the organization's gateway (governed
// inference), the real origin (intercepted for policy and audit only), or any host for plain
// `http://` proxying. Requests go through undici's pooled keep-alive dispatchers; websocket
// upgrades through ./upgrade.ts. Bodies stream both ways with backpressure; nothing here buffers a
// body. (The brief named http-proxy; it cost ~40% of the proxy's CPU per request, see
// docs/architecture.md "Departures".)
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici';
import type { Logger } from '../lib/logger.ts';
import { DnsCache, type DnsCacheOptions, type LookupFunction } from './dns-cache.ts';
import { providerError, type ErrorKind } from './error-shapes.ts';
import { applyGatewayHeaders, removeHopByHop, stripCredentialQuery } from './headers.ts';
import { gatewayPath, type ErrorShapeId, type GatewayRouteRow, type OriginRouteRow } from './routes.ts';
import { forwardUpgrade, type UpgradeFailure } from './upgrade.ts';

export interface ForwardTimeouts {
  /** TCP connect (and TLS handshake) to the next hop. */
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
  supportUrl?: string;
  timeouts?: Partial<ForwardTimeouts>;
  /** Tests point origin-mode routes at a local server; production leaves this unset. */
  resolveOrigin?: OriginResolver;
  dns?: Omit<DnsCacheOptions, 'logger'>;
  logger: Logger;
}

export type ForwardTarget =
  | { kind: 'gateway'; route: GatewayRouteRow; passthrough: boolean; virtualKey: string; appId: string | undefined }
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
  dispatcher: Dispatcher;
  secureContext?: tls.SecureContext;
  servername?: string;
  lookup?: LookupFunction;
}

/** A pooled dispatcher and the TLS settings its connections use (the upgrade path reuses them). */
interface OriginPool {
  agent: Agent;
  secureContext?: tls.SecureContext;
}

// Connections the next hop has kept open are reused for this long when it names no shorter time.
const KEEP_ALIVE = { keepAliveTimeout: 15_000, keepAliveMaxTimeout: 60_000 };

export class Forwarder {
  readonly #gateway: URL;
  readonly #gatewayPool: OriginPool;
  readonly #originPools = new Map<string, OriginPool>();
  readonly #plainAgent: Agent;
  readonly #dns: DnsCache;
  readonly #timeouts: ForwardTimeouts;
  readonly #resolveOrigin: OriginResolver;
  readonly #deviceId: string;
  readonly #supportUrl: string | undefined;
  readonly #logger: Logger;

  constructor(options: ForwarderOptions) {
    this.#gateway = new URL(options.gatewayUrl);
    if (this.#gateway.protocol !== 'http:' && this.#gateway.protocol !== 'https:') {
      throw new Error(`gateway_url ${options.gatewayUrl}: expected an http:// or https:// URL`);
    }
    this.#timeouts = { ...DEFAULT_FORWARD_TIMEOUTS, ...options.timeouts };
    this.#resolveOrigin = options.resolveOrigin ?? productionOriginResolver;
    this.#deviceId = options.deviceId;
    this.#supportUrl = options.supportUrl;
    this.#logger = options.logger;
    this.#dns = new DnsCache({ ...options.dns, logger: options.logger });
    // One SecureContext for every gateway connection: passing `ca` instead would parse the whole
    // root store again for each new socket (tens of ms and about a megabyte each).
    const secureContext = this.#gateway.protocol === 'https:' ? tls.createSecureContext({ ca: trustedRoots(options.gatewayCa) }) : undefined;
    this.#gatewayPool = {
      agent: new Agent({ ...KEEP_ALIVE, connect: { timeout: this.#timeouts.connectMs, lookup: this.#dns.lookup, ...(secureContext ? { secureContext } : {}) } }),
      ...(secureContext ? { secureContext } : {}),
    };
    this.#plainAgent = new Agent({ ...KEEP_ALIVE, connect: { timeout: this.#timeouts.connectMs } });
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
    const shape = shapeOf(target);
    const hasBody = requestHasBody(req);
    const hop = this.#nextHop(req, target, requestId, false);
    return new Promise<ForwardResult>((resolve) => {
      let bytesIn = 0;
      let bytesOut = 0;
      let idleCut = false;
      let errorKind: ErrorKind | undefined;
      let controller: Dispatcher.DispatchController | undefined;
      res.once('close', () => {
        // The app went away before the answer was complete: stop the upstream request too.
        if (!res.writableFinished && controller && !controller.aborted) controller.abort(new Error('the app closed its connection'));
        resolve({
          status: res.statusCode,
          bytesIn,
          bytesOut,
          outcome: errorKind || idleCut || !res.writableFinished ? 'error' : 'forwarded',
          ...(errorKind ? { errorKind } : {}),
        });
      });
      const onDrain = (): void => controller?.resume();
      res.on('drain', onDrain);

      hop.dispatcher.dispatch({
        origin: hop.origin.origin,
        path: hop.path,
        method: req.method ?? 'GET',
        headers: req.headers as Record<string, string | string[]>,
        body: hasBody ? req : null,
        headersTimeout: this.#timeouts.responseHeadersMs,
        bodyTimeout: this.#timeouts.idleStreamMs,
        ...(hop.servername ? { servername: hop.servername } : {}),
      }, {
        onRequestStart: (c) => {
          controller = c;
          // undici starts reading the body in this same tick; a listener added any earlier would
          // set the body flowing before undici listens, and the chunks would be lost.
          if (hasBody) req.on('data', (chunk: Buffer) => { bytesIn += chunk.length; });
        },
        onResponseStart: (_c, status, headers, statusMessage) => {
          removeHopByHop(headers, false);
          res.writeHead(status, statusMessage || undefined, headers as http.OutgoingHttpHeaders);
        },
        onResponseData: (c, chunk) => {
          bytesOut += chunk.length;
          if (!res.write(chunk)) c.pause();
        },
        onResponseEnd: () => { res.end(); },
        onResponseError: (_c, err: NodeJS.ErrnoException) => {
          if (res.destroyed) return; // the app left first; already accounted for
          if (err instanceof undiciErrors.BodyTimeoutError) {
            // A stream that went silent is cut, not ended cleanly: the app must not mistake a
            // truncated answer for a complete one.
            idleCut = true;
            res.destroy();
            return;
          }
          errorKind = classify(err, target);
          this.#logger.warn({ err: err.message, code: err.code, next_hop: describe(target, this.#gateway), request_id: requestId }, 'forwarding failed');
          if (res.headersSent) res.destroy();
          else this.sendError(res, shape, errorKind, detailFor(errorKind, target, this.#gateway, err, this.#timeouts));
        },
      });
    });
  }

  /** Forwards a websocket upgrade (Codex opens `GET /v1/responses` as a websocket). */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, requestId: string): Promise<ForwardResult> {
    const shape = shapeOf(target);
    const hop = this.#nextHop(req, target, requestId, true);
    return new Promise<ForwardResult>((resolve) => {
      let result: ForwardResult = { status: 101, bytesIn: 0, bytesOut: 0, outcome: 'forwarded' };
      socket.once('close', () => resolve(result));
      forwardUpgrade(req, socket, head, { ...hop, headers: req.headers }, this.#timeouts, {
        onAnswer: (status) => { result = { ...result, status }; },
        onFailure: (failure: UpgradeFailure) => {
          const err: NodeJS.ErrnoException = failure.phase === 'network' ? failure.error : new Error(`${failure.phase} timeout after ${failure.timeoutMs} ms`);
          const kind: ErrorKind = failure.phase === 'response-headers' ? 'gateway_timeout' : unreachable(target);
          this.#logger.warn({ err: err.message, code: err.code, next_hop: describe(target, this.#gateway), request_id: requestId }, 'websocket forwarding failed');
          const e = providerError(shape, kind, detailFor(kind, target, this.#gateway, err, this.#timeouts), this.#supportUrl);
          result = { status: e.status, bytesIn: 0, bytesOut: 0, outcome: 'error', errorKind: kind };
          writeRawError(socket, e.status, e.body);
        },
      });
    });
  }

  /** Drops pooled connections (shutdown). */
  close(): void {
    void this.#gatewayPool.agent.destroy().catch(() => undefined);
    void this.#plainAgent.destroy().catch(() => undefined);
    for (const pool of this.#originPools.values()) void pool.agent.destroy().catch(() => undefined);
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
          route: target.route, passthrough: target.passthrough, virtualKey: target.virtualKey,
          requestId, appId: target.appId, deviceId: this.#deviceId,
        });
        // The gateway is addressed by its own name, not the provider's.
        req.headers.host = this.#gateway.host;
        const keepNative = target.passthrough || target.route.credentialPolicy === 'native-only';
        const cleaned = keepNative ? pathAndQuery : stripCredentialQuery(pathAndQuery, target.route.credentialQueryParams);
        const pool = this.#gatewayPool;
        return {
          origin: this.#gateway, path: joinPath(this.#gateway, gatewayPath(target.route, target.passthrough, cleaned)), dispatcher: pool.agent,
          lookup: this.#dns.lookup, ...(pool.secureContext ? { secureContext: pool.secureContext } : {}),
        };
      }
      case 'origin': {
        // The origin sees the app's own request: its headers, its credential, its Host.
        const origin = this.#resolveOrigin(target.host);
        const url = new URL(origin.url);
        const servername = origin.servername ?? (net.isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname);
        const pool = this.#originPool(origin.ca);
        return {
          origin: url, path: pathAndQuery, dispatcher: pool.agent,
          ...(servername ? { servername } : {}), ...(pool.secureContext ? { secureContext: pool.secureContext } : {}),
        };
      }
      case 'plain':
        return { origin: target.url, path: target.url.pathname + target.url.search, dispatcher: this.#plainAgent };
    }
  }

  #originPool(ca: string | undefined): OriginPool {
    const key = ca ?? '';
    let pool = this.#originPools.get(key);
    if (!pool) {
      const secureContext = ca ? tls.createSecureContext({ ca: trustedRoots(ca) }) : undefined;
      pool = {
        agent: new Agent({ ...KEEP_ALIVE, connect: { timeout: this.#timeouts.connectMs, ...(secureContext ? { secureContext } : {}) } }),
        ...(secureContext ? { secureContext } : {}),
      };
      this.#originPools.set(key, pool);
    }
    return pool;
  }
}

/** A request carries a body when it says so (RFC 9112 6.3); read before hop-by-hop removal. */
function requestHasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
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

function classify(err: Error, target: ForwardTarget): ErrorKind {
  if (err instanceof undiciErrors.HeadersTimeoutError) return 'gateway_timeout';
  return unreachable(target);
}

function describe(target: ForwardTarget, gateway: URL): string {
  switch (target.kind) {
    case 'gateway': return gateway.host;
    case 'origin': return target.host;
    case 'plain': return target.url.host;
  }
}

function detailFor(kind: ErrorKind, target: ForwardTarget, gateway: URL, err: NodeJS.ErrnoException, timeouts: ForwardTimeouts): string {
  const where = describe(target, gateway);
  if (kind === 'gateway_timeout') return `${where}: ${err instanceof undiciErrors.HeadersTimeoutError ? `response-headers timeout after ${timeouts.responseHeadersMs} ms` : err.message}`;
  if (err instanceof undiciErrors.ConnectTimeoutError) return `${where}: connect timeout after ${timeouts.connectMs} ms`;
  return `${where}: ${err.code && !err.code.startsWith('UND_ERR') ? err.code : err.message}`;
}

/** System roots (bundled and, where Node can read it, the OS store) plus an optional extra CA. */
function trustedRoots(extraPem: string | undefined): string[] {
  const roots = new Set<string>(tls.rootCertificates);
  const getCa = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (getCa) {
    try {
      for (const pem of getCa('system')) roots.add(pem);
    } catch {
      // Older Node or no readable OS store: the bundled roots stand.
    }
  }
  if (extraPem) roots.add(extraPem);
  return [...roots];
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
