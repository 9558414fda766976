// Forwards one intercepted exchange to its next hop with http-proxy: the organization's gateway
// (governed inference), the real origin (intercepted for policy and audit only), or any host for
// plain `http://` proxying. Bodies stream both ways; nothing here buffers a body.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { parse as parseLegacyUrl, type Url } from 'node:url';
import httpProxy from 'http-proxy';
import type { Logger } from '../lib/logger.ts';
import { DnsCache, type DnsCacheOptions } from './dns-cache.ts';
import { providerError, type ErrorKind } from './error-shapes.ts';
import { applyGatewayHeaders, removeHopByHop, stripCredentialQuery } from './headers.ts';
import { gatewayPath, type ErrorShapeId, type GatewayRouteRow, type OriginRouteRow } from './routes.ts';

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

/** Error thrown into http-proxy's error path to say which of our timers fired. */
class ForwardTimeoutError extends Error {
  readonly phase: 'connect' | 'response-headers';
  readonly code = 'HEIMDALL_TIMEOUT';
  constructor(phase: 'connect' | 'response-headers', ms: number) {
    super(`${phase} timeout after ${ms} ms`);
    this.phase = phase;
  }
}

interface ExchangeState {
  target: ForwardTarget;
  shape: ErrorShapeId;
  headerTimer?: NodeJS.Timeout;
  connectTimer?: NodeJS.Timeout;
  bytesOut: number;
  idleCut: boolean;
}

export class Forwarder {
  readonly #proxy: httpProxy;
  readonly #gateway: URL;
  /** The gateway as http-proxy's target, parsed once (given a string, it parses it on every request). */
  readonly #gatewayTarget: Url;
  readonly #gatewayAgent: http.Agent;
  readonly #originAgents = new Map<string, https.Agent>();
  readonly #plainAgent: http.Agent;
  readonly #dns: DnsCache;
  readonly #timeouts: ForwardTimeouts;
  readonly #resolveOrigin: OriginResolver;
  readonly #deviceId: string;
  readonly #supportUrl: string | undefined;
  readonly #logger: Logger;
  readonly #exchanges = new WeakMap<http.IncomingMessage, ExchangeState>();

  constructor(options: ForwarderOptions) {
    this.#gateway = new URL(options.gatewayUrl);
    this.#gatewayTarget = parseLegacyUrl(this.#gateway.href);
    if (this.#gateway.protocol !== 'http:' && this.#gateway.protocol !== 'https:') {
      throw new Error(`gateway_url ${options.gatewayUrl}: expected an http:// or https:// URL`);
    }
    this.#timeouts = { ...DEFAULT_FORWARD_TIMEOUTS, ...options.timeouts };
    this.#resolveOrigin = options.resolveOrigin ?? productionOriginResolver;
    this.#deviceId = options.deviceId;
    this.#supportUrl = options.supportUrl;
    this.#logger = options.logger;
    this.#dns = new DnsCache({ ...options.dns, logger: options.logger });
    const keepAlive = { keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: 64, scheduling: 'lifo' as const };
    this.#gatewayAgent = this.#gateway.protocol === 'https:'
      // One SecureContext for every gateway connection: passing `ca` instead would parse the
      // whole root store again for each new socket (tens of ms and about a megabyte each).
      ? new https.Agent({ ...keepAlive, lookup: this.#dns.lookup, secureContext: tls.createSecureContext({ ca: trustedRoots(options.gatewayCa) }) })
      : new http.Agent({ ...keepAlive, lookup: this.#dns.lookup });
    this.#plainAgent = new http.Agent(keepAlive);
    this.#proxy = httpProxy.createProxyServer({ xfwd: false, ws: true });
    this.#proxy.on('proxyReq', (proxyReq, req) => this.#onProxyReq(proxyReq, req));
    this.#proxy.on('proxyReqWs', (proxyReq, req) => this.#onProxyReq(proxyReq, req));
    this.#proxy.on('proxyRes', (proxyRes, req, res) => this.#onProxyRes(proxyRes, req, res));
    // http-proxy reports a client that went away mid-exchange here; nothing to answer.
    this.#proxy.on('econnreset', (_err, req) => this.#clearTimers(req));
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
    const state: ExchangeState = { target, shape, bytesOut: 0, idleCut: false };
    this.#exchanges.set(req, state);
    let bytesIn = 0;

    const options = this.#prepare(req, target, requestId, false);
    return new Promise<ForwardResult>((resolve) => {
      let errorKind: ErrorKind | undefined;
      const done = (): void => {
        this.#clearTimers(req);
        resolve({
          status: res.statusCode,
          bytesIn,
          bytesOut: state.bytesOut,
          outcome: errorKind || state.idleCut || !res.writableFinished ? 'error' : 'forwarded',
          ...(errorKind ? { errorKind } : {}),
        });
      };
      res.once('close', done);
      this.#proxy.web(req, res, options, (err: NodeJS.ErrnoException) => {
        this.#clearTimers(req);
        errorKind = classify(err, target);
        this.#logger.warn({ err: err.message, code: err.code, next_hop: describe(target, this.#gateway), request_id: requestId }, 'forwarding failed');
        if (res.headersSent) res.destroy();
        else this.sendError(res, shape, errorKind, detailFor(errorKind, target, this.#gateway, err));
      });
      // http-proxy has piped the body to the upstream request by now (synchronously, in web()); a
      // second 'data' listener sees the same chunks and counts them. (A PassThrough in between did the
      // same at the cost of one more stream, its buffering and ticks, on every request.)
      req.on('data', (chunk: Buffer) => { bytesIn += chunk.length; });
    });
  }

  /** Forwards a websocket upgrade (Codex opens `GET /v1/responses` as a websocket). */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, target: ForwardTarget, requestId: string): Promise<ForwardResult> {
    const shape = shapeOf(target);
    this.#exchanges.set(req, { target, shape, bytesOut: 0, idleCut: false });
    const options = this.#prepare(req, target, requestId, true);
    return new Promise<ForwardResult>((resolve) => {
      let result: ForwardResult = { status: 101, bytesIn: 0, bytesOut: 0, outcome: 'forwarded' };
      socket.once('close', () => {
        this.#clearTimers(req);
        resolve(result);
      });
      this.#proxy.ws(req, socket, head, options, (err: NodeJS.ErrnoException) => {
        this.#clearTimers(req);
        const kind = classify(err, target);
        this.#logger.warn({ err: err.message, code: err.code, next_hop: describe(target, this.#gateway), request_id: requestId }, 'websocket forwarding failed');
        const e = providerError(shape, kind, detailFor(kind, target, this.#gateway, err), this.#supportUrl);
        result = { status: e.status, bytesIn: 0, bytesOut: 0, outcome: 'error', errorKind: kind };
        writeRawError(socket, e.status, e.body);
      });
    });
  }

  /** Drops pooled connections (shutdown). */
  close(): void {
    this.#gatewayAgent.destroy();
    this.#plainAgent.destroy();
    for (const agent of this.#originAgents.values()) agent.destroy();
    this.#proxy.close();
  }

  #prepare(req: http.IncomingMessage, target: ForwardTarget, requestId: string, isUpgrade: boolean): httpProxy.ServerOptions {
    removeHopByHop(req.headers, isUpgrade);
    const pathAndQuery = req.url ?? '/';
    switch (target.kind) {
      case 'gateway': {
        applyGatewayHeaders(req.headers, {
          route: target.route, passthrough: target.passthrough, virtualKey: target.virtualKey,
          requestId, appId: target.appId, deviceId: this.#deviceId,
        });
        const keepNative = target.passthrough || target.route.credentialPolicy === 'native-only';
        const cleaned = keepNative ? pathAndQuery : stripCredentialQuery(pathAndQuery, target.route.credentialQueryParams);
        req.url = gatewayPath(target.route, target.passthrough, cleaned);
        return { target: this.#gatewayTarget, agent: this.#gatewayAgent, changeOrigin: true };
      }
      case 'origin': {
        // The origin sees the app's own request: its headers, its credential, its Host.
        const origin = this.#resolveOrigin(target.host);
        const url = new URL(origin.url);
        const servername = origin.servername ?? (net.isIP(url.hostname) ? undefined : url.hostname);
        return {
          target: url.href,
          agent: this.#originAgent(origin.ca),
          changeOrigin: false,
          ...(servername ? { ssl: { servername } } : {}),
        };
      }
      case 'plain': {
        req.url = target.url.pathname + target.url.search;
        return { target: target.url.origin, agent: this.#plainAgent, changeOrigin: false };
      }
    }
  }

  #originAgent(ca: string | undefined): https.Agent {
    const key = ca ?? '';
    let agent = this.#originAgents.get(key);
    if (!agent) {
      agent = new https.Agent({
        keepAlive: true, keepAliveMsecs: 15_000, maxFreeSockets: 32, scheduling: 'lifo',
        ...(ca ? { secureContext: tls.createSecureContext({ ca: trustedRoots(ca) }) } : {}),
      });
      this.#originAgents.set(key, agent);
    }
    return agent;
  }

  #onProxyReq(proxyReq: http.ClientRequest, req: http.IncomingMessage): void {
    const state = this.#exchanges.get(req);
    if (!state || state.headerTimer) return;
    const { connectMs, responseHeadersMs } = this.#timeouts;
    state.headerTimer = setTimeout(() => proxyReq.destroy(new ForwardTimeoutError('response-headers', responseHeadersMs)), responseHeadersMs);
    const socket = proxyReq.socket;
    if (socket?.connecting) {
      state.connectTimer = setTimeout(() => proxyReq.destroy(new ForwardTimeoutError('connect', connectMs)), connectMs);
      socket.once('connect', () => clearTimeout(state.connectTimer));
    }
    proxyReq.once('upgrade', () => this.#clearTimers(req));
  }

  #onProxyRes(proxyRes: http.IncomingMessage, req: http.IncomingMessage, res: http.ServerResponse): void {
    const state = this.#exchanges.get(req);
    removeHopByHop(proxyRes.headers, false);
    if (!state) return;
    this.#clearTimers(req);
    const idleMs = this.#timeouts.idleStreamMs;
    let idle = setTimeout(onIdle, idleMs);
    function onIdle(): void {
      // A stream that went silent is cut, not ended cleanly: the app must not mistake a
      // truncated answer for a complete one.
      state!.idleCut = true;
      proxyRes.destroy();
      res.destroy();
    }
    proxyRes.on('data', (chunk: Buffer) => {
      state.bytesOut += chunk.length;
      idle.refresh();
    });
    proxyRes.once('close', () => clearTimeout(idle));
    res.once('close', () => clearTimeout(idle));
    idle = idle.unref();
  }

  #clearTimers(req: http.IncomingMessage): void {
    const state = this.#exchanges.get(req);
    if (!state) return;
    clearTimeout(state.headerTimer);
    clearTimeout(state.connectTimer);
  }
}

function shapeOf(target: ForwardTarget): ErrorShapeId {
  return target.kind === 'plain' ? (target.errorShape ?? 'openai') : target.route.errorShape;
}

function classify(err: NodeJS.ErrnoException, target: ForwardTarget): ErrorKind {
  if (err instanceof ForwardTimeoutError) {
    if (err.phase === 'response-headers') return 'gateway_timeout';
    return target.kind === 'gateway' ? 'gateway_unreachable' : 'origin_unreachable';
  }
  return target.kind === 'gateway' ? 'gateway_unreachable' : 'origin_unreachable';
}

function describe(target: ForwardTarget, gateway: URL): string {
  switch (target.kind) {
    case 'gateway': return gateway.host;
    case 'origin': return target.host;
    case 'plain': return target.url.host;
  }
}

function detailFor(kind: ErrorKind, target: ForwardTarget, gateway: URL, err: NodeJS.ErrnoException): string {
  const where = describe(target, gateway);
  if (kind === 'gateway_timeout') return `${where}: ${err.message}`;
  return `${where}: ${err.code ?? err.message}`;
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
