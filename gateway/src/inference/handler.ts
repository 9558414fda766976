// The inference front door: matches a request to a route, checks the virtual key and the direct-key
// setting, picks the upstream, forwards, and records exactly one audit event per request.
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../../lib/index.ts';
import { dimension, type InferenceAuditEvent, type InferenceOutcome, ModelSniffer } from './audit.ts';
import type { ProviderConfig, ProviderUpstream } from './config.ts';
import { readCredentials, upstreamHeaders, upstreamQuery } from './credentials.ts';
import { DEVICE_TOKEN_HEADER, USER_TOKEN_HEADER, errorFormatOf, type ErrorKind, providerError } from '../../../protocol/index.ts';
import { forwardHttp } from './forward-http.ts';
import { forwardWebsocket, responseHead } from './forward-websocket.ts';
import { PROVIDERS } from './providers.ts';
import { matchEndpoint, matchRoute, type RouteMatch, type Transport, unsafePathReason } from './routes.ts';
import { joinUpstreamTarget } from './upstream-request.ts';

export interface VirtualKeyIdentity {
  keyId: string;
  userId: string;
  userEmail?: string;
}

export interface InferenceHandlerDeps {
  /** Resolves an active virtual key to its owner; undefined for an unknown, revoked or expired key. */
  verifyVirtualKey(key: string): Promise<VirtualKeyIdentity | undefined>;
  /**
   * Resolves a device token (header `x-heimdall-device-token`, sent by the agent) to the device it
   * proves. Device attribution comes only from here, never from `x-bf-dim-device`.
   */
  verifyDeviceToken?(token: string): Promise<{ ok: true; deviceId: string } | { ok: false; status: 401 | 403; message: string }>;
  /**
   * Resolves a user access token (header `x-heimdall-user-token`, sent by the agent beside the
   * device token) on the device the device token proved: the person and the virtual key the gateway
   * holds for them (SSO, issue 18). Absent: the gateway has no SSO and refuses such requests.
   */
  verifyUserToken?(
    token: string,
    deviceId: string,
  ): Promise<{ ok: true; userId: string; email: string; keyId: string; virtualKey: string } | { ok: false; status: 401 | 403; message: string }>;
  /** What a device's request without a user token or virtual key gets (`sso.unattributed`); absent: refused as before. */
  unattributed?(): Promise<{ mode: 'block' } | { mode: 'device'; keyId: string; virtualKey: string } | { mode: 'unavailable'; message: string }>;
  /** The organisation setting that lets apps use their own provider keys (`x-bf-direct-key`). */
  allowDirectKeys(): boolean;
  /** Called once per request, after it ended. Must not throw; must not block. */
  recordInference(event: InferenceAuditEvent): void;
  providers: ProviderConfig;
  logger: Logger;
  /** Shown in error messages so a person knows where to get help. */
  supportUrl?: string;
  /** Runs the upstream connect, headers and idle limits; tests pass a ManualClock. */
  clock?: Clock;
}

export interface InferenceHandler {
  /** Serves the request if its path is an inference route; returns false (and touches nothing) otherwise. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Same for a websocket upgrade (the server's 'upgrade' event). */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Drops pooled upstream connections. In-flight exchanges end when their sockets do. */
  close(): void;
  /**
   * Resolves once every exchange started so far has ended and been recorded (one audit event each):
   * after it, nothing more is recorded for them.
   */
  idle(): Promise<void>;
}

/** An answer the gateway gives itself, before or instead of forwarding. */
class Refusal extends Error {
  override name = 'Refusal';
  readonly kind: ErrorKind;
  readonly outcome: InferenceOutcome;
  constructor(kind: ErrorKind, message: string, outcome: InferenceOutcome) {
    super(message);
    this.kind = kind;
    this.outcome = outcome;
  }
}

interface Admitted {
  endpoint: string;
  upstream: ProviderUpstream;
  direct: boolean;
  virtualKey: string;
}

function headerText(value: string | string[] | undefined): string | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  return v === undefined || v === '' ? undefined : v;
}

function splitUrl(url: string | undefined): { path: string; query: string } {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? { path: u, query: '' } : { path: u.slice(0, q), query: u.slice(q + 1) };
}

/** How long a pooled upstream connection may sit idle when the upstream announces no shorter limit. */
const UPSTREAM_IDLE_SOCKET_MS = 30_000;

export function createInferenceHandler(deps: InferenceHandlerDeps): InferenceHandler {
  const log = deps.logger.child({ component: 'inference' });
  const clock = deps.clock ?? systemClock;
  /** Exchanges being served; each settles after its audit event is recorded. */
  const inFlight = new Set<Promise<void>>();
  function track(exchange: Promise<void>): void {
    inFlight.add(exchange);
    void exchange.finally(() => inFlight.delete(exchange));
  }

  // An idle timeout of the pool's own is what makes Node's agent honour an upstream's `Keep-Alive:
  // timeout=N` (it then closes a pooled socket a second before the upstream does); without one the
  // hint is ignored, and a request that takes a socket the upstream is closing at that moment fails
  // with ECONNRESET (seen in CI against the demo upstream, a Node server that closes after 5 s).
  const pool = { keepAlive: true, scheduling: 'lifo', timeout: UPSTREAM_IDLE_SOCKET_MS } as const;
  const agents = { http: new http.Agent(pool), https: new https.Agent(pool) };

  const message = (text: string) => `Heimdall gateway: ${text}${deps.supportUrl ? ` Help: ${deps.supportUrl}` : ''}`;

  function record(event: InferenceAuditEvent): void {
    try {
      deps.recordInference(event);
    } catch (err) {
      log.error({ err, requestId: event.requestId }, 'recording an inference audit event failed');
    }
  }

  /** Everything the gateway checks before it forwards anything; throws a Refusal. */
  async function admit(match: RouteMatch, req: IncomingMessage, path: string, query: string, transport: Transport, event: InferenceAuditEvent): Promise<Admitted> {
    const { route, rest } = match;
    // The whole path and the part joined to the upstream base both follow Bifrost's passthrough rules.
    const unsafe = unsafePathReason(path) ?? unsafePathReason(rest);
    if (unsafe) throw new Refusal('invalid_request', `the path ${JSON.stringify(path.slice(0, 200))} is not allowed: it ${unsafe}.`, 'rejected');

    const creds = readCredentials(req.headers, query);
    // A request from a Heimdall agent carries its device token, checked first: a bad one is refused,
    // not ignored (a revoked device hears that it is revoked, 403, whatever its key's state).
    const deviceToken = headerText(req.headers[DEVICE_TOKEN_HEADER]);
    const userToken = headerText(req.headers[USER_TOKEN_HEADER]);
    if (deviceToken === undefined && userToken !== undefined) {
      throw new Refusal('authentication', 'a Heimdall sign-in token (x-heimdall-user-token) is accepted only with the device token of the same device (x-heimdall-device-token).', 'unauthenticated');
    }
    if (deviceToken === undefined && creds.virtualKey === undefined) {
      throw new Refusal(
        'authentication',
        'this request carries no virtual key. Send your virtual key (sk-bf-...) as "Authorization: Bearer <key>" or in the x-bf-vk header.',
        'unauthenticated',
      );
    }
    if (deviceToken !== undefined) {
      const device = deps.verifyDeviceToken ? await deps.verifyDeviceToken(deviceToken) : { ok: false as const, status: 401 as const, message: 'this gateway does not accept device tokens' };
      if (!device.ok) throw new Refusal(device.status === 403 ? 'permission' : 'authentication', `${device.message}.`, device.status === 403 ? 'forbidden' : 'unauthenticated');
      event.device = device.deviceId;
      // The app is what an authenticated device says it is: kept (labelled as its claim), never a bare header's.
      event.app = dimension(req.headers, 'x-bf-dim-app');
    }

    // Whose request this is, and under which virtual key: the person's user token (SSO: the key the
    // gateway holds for them; any virtual key the request also carries is ignored), else the virtual
    // key, else, from a device, the organization's `unattributed` setting.
    let virtualKey: string;
    if (userToken !== undefined) {
      const person = deps.verifyUserToken
        ? await deps.verifyUserToken(userToken, event.device!)
        : { ok: false as const, status: 401 as const, message: 'this gateway has no single sign-on configured' };
      if (!person.ok) throw new Refusal(person.status === 403 ? 'permission' : 'authentication', `${person.message}.`, person.status === 403 ? 'forbidden' : 'unauthenticated');
      event.keyId = person.keyId;
      event.userId = person.userId;
      event.userEmail = person.email;
      virtualKey = person.virtualKey;
    } else if (creds.virtualKey === undefined) {
      const answer = deps.unattributed ? await deps.unattributed() : undefined;
      if (answer === undefined) {
        throw new Refusal(
          'authentication',
          'this request carries no virtual key. Send your virtual key (sk-bf-...) as "Authorization: Bearer <key>" or in the x-bf-vk header.',
          'unauthenticated',
        );
      }
      if (answer.mode === 'block') throw new Refusal('authentication', 'you are not signed in to Heimdall. Run `heimdall login` in a terminal, then retry.', 'unauthenticated');
      if (answer.mode === 'unavailable') throw new Refusal('permission', `${answer.message}.`, 'forbidden');
      event.keyId = answer.keyId;
      event.unattributed = true;
      virtualKey = answer.virtualKey;
    } else {
      const identity = await deps.verifyVirtualKey(creds.virtualKey);
      if (identity === undefined) {
        throw new Refusal('authentication', 'the virtual key is not valid or has been revoked. Ask your administrator for a new one.', 'unauthenticated');
      }
      event.keyId = identity.keyId;
      event.userId = identity.userId;
      event.userEmail = identity.userEmail;
      virtualKey = creds.virtualKey;
    }

    let direct = false;
    if (creds.directKeyRequested) {
      if (!deps.allowDirectKeys()) {
        throw new Refusal(
          'permission',
          'direct provider keys are not allowed by your organisation. Remove the x-bf-direct-key header so the gateway uses its own provider key.',
          'forbidden',
        );
      }
      if (!creds.hasNativeCredential) {
        throw new Refusal('authentication', 'x-bf-direct-key is set but the request carries no provider credential of its own.', 'unauthenticated');
      }
      direct = true;
    }
    event.directKey = direct;

    const endpoint = matchEndpoint(route, req.method ?? 'GET', rest, transport);
    if (!endpoint.ok) {
      if (endpoint.reason === 'needs_upgrade') {
        throw new Refusal('upgrade_required', `${req.method} ${path} is a websocket endpoint; open it with an Upgrade: websocket request.`, 'rejected');
      }
      throw new Refusal('not_found', `the ${route.name} route does not serve ${req.method} ${path}${transport === 'websocket' ? ' as a websocket' : ''}.`, 'rejected');
    }
    event.endpoint = endpoint.id;

    const upstream = deps.providers.providers[route.provider];
    if (upstream === undefined) {
      throw new Refusal('unavailable', `no upstream is configured for ${route.provider} on this gateway. Ask your administrator to configure it.`, 'rejected');
    }
    if (upstream.kind === 'provider' && !direct && upstream.apiKey === undefined) {
      if (PROVIDERS[route.provider].applyKey === null) {
        throw new Refusal(
          'permission',
          `${route.name} forwards only your own ${route.provider} credential: send it with x-bf-direct-key: true (if your organisation allows direct keys).`,
          'forbidden',
        );
      }
      throw new Refusal('unavailable', `this gateway holds no ${route.provider} key; only requests with your own key (x-bf-direct-key) are served.`, 'rejected');
    }
    event.upstream = upstream.kind;
    return { endpoint: endpoint.id, upstream, direct, virtualKey };
  }

  function newEvent(req: IncomingMessage, match: RouteMatch, transport: Transport): InferenceAuditEvent {
    const modelInPath = match.route.modelInPath?.exec(match.rest)?.[1];
    return {
      requestId: randomUUID(),
      at: new Date().toISOString(),
      method: req.method ?? 'GET',
      route: match.route.name,
      endpoint: undefined,
      provider: match.route.provider,
      upstream: 'none',
      transport,
      model: modelInPath && /^[A-Za-z0-9._:@+-]{1,128}$/.test(modelInPath) ? modelInPath : undefined,
      // Set only from a verified device token (admit); client x-bf-dim-* headers alone count for nothing.
      app: undefined,
      device: undefined,
      keyId: undefined,
      userId: undefined,
      userEmail: undefined,
      directKey: false,
      status: 0,
      outcome: 'ok',
      error: undefined,
      latencyMs: 0,
      upstreamHeadersMs: undefined,
      bytesIn: 0,
      bytesOut: 0,
    };
  }

  async function serveHttp(req: IncomingMessage, res: ServerResponse, match: RouteMatch, path: string, query: string): Promise<void> {
    const started = performance.now();
    const event = newEvent(req, match, 'http');
    const format = errorFormatOf(match.route.provider);
    const sendError = (kind: ErrorKind, text: string) => {
      const e = providerError(format, kind, message(text));
      res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(e.body), 'x-heimdall-request-id': event.requestId });
      res.end(e.body);
      event.bytesOut += Buffer.byteLength(e.body);
    };
    try {
      let admitted: Admitted;
      try {
        admitted = await admit(match, req, path, query, 'http', event);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        req.resume();
        sendError(err.kind, err.message);
        event.outcome = err.outcome;
        event.error = err.kind;
        return;
      }
      const { upstream, direct, virtualKey } = admitted;
      const headers = upstreamHeaders(req.headers, { provider: match.route.provider, upstream, direct, virtualKey, websocket: false, deviceId: event.device, app: event.app });
      const q = upstreamQuery(query, { provider: match.route.provider, direct, virtualKey });
      const target = upstream.kind === 'bifrost' ? joinUpstreamTarget(upstream.bifrostUrl, path, q) : joinUpstreamTarget(upstream.baseUrl, match.rest, q);
      const sniffer = new ModelSniffer();
      const result = await forwardHttp({
        req,
        res,
        target,
        headers,
        timeouts: deps.providers.timeouts,
        clock,
        agents,
        direct,
        requestId: event.requestId,
        onRequestChunk: (chunk) => {
          event.bytesIn += chunk.length;
          if (event.model === undefined) sniffer.feed(chunk);
        },
        onResponseChunk: (chunk) => {
          event.bytesOut += chunk.length;
        },
        sendError,
      });
      event.model ??= sniffer.model;
      event.outcome = result.outcome;
      event.error = result.error;
      if (result.upstreamHeadersAt !== undefined) event.upstreamHeadersMs = Math.round(result.upstreamHeadersAt - started);
    } catch (err) {
      log.error({ err, requestId: event.requestId, route: event.route }, 'inference request failed inside the gateway');
      if (!res.headersSent) sendError('internal', 'the gateway failed to handle this request.');
      else res.destroy();
      event.outcome = 'rejected';
      event.error = 'internal';
    } finally {
      // 0: the client left before anything was sent (res.statusCode would still say 200).
      event.status = res.headersSent ? res.statusCode : 0;
      event.latencyMs = Math.round(performance.now() - started);
      record(event);
    }
  }

  async function serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, match: RouteMatch, path: string, query: string): Promise<void> {
    const started = performance.now();
    const event = newEvent(req, match, 'websocket');
    const format = errorFormatOf(match.route.provider);
    socket.on('error', () => {
      /* a client that vanishes mid-handshake is not an error here */
    });
    const sendError = (kind: ErrorKind, text: string): number => {
      const e = providerError(format, kind, message(text));
      const pairs: [string, string][] = [
        ['content-type', 'application/json'],
        ['content-length', String(Buffer.byteLength(e.body))],
        ['x-heimdall-request-id', event.requestId],
        ['connection', 'close'],
      ];
      socket.end(responseHead(e.status, http.STATUS_CODES[e.status] ?? '', pairs) + e.body);
      event.bytesOut += Buffer.byteLength(e.body);
      return e.status;
    };
    try {
      let admitted: Admitted;
      try {
        admitted = await admit(match, req, path, query, 'websocket', event);
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        event.status = sendError(err.kind, err.message);
        event.outcome = err.outcome;
        event.error = err.kind;
        return;
      }
      const { upstream, direct, virtualKey } = admitted;
      const headers = upstreamHeaders(req.headers, { provider: match.route.provider, upstream, direct, virtualKey, websocket: true, deviceId: event.device, app: event.app });
      const q = upstreamQuery(query, { provider: match.route.provider, direct, virtualKey });
      const target = upstream.kind === 'bifrost' ? joinUpstreamTarget(upstream.bifrostUrl, path, q) : joinUpstreamTarget(upstream.baseUrl, match.rest, q);
      const result = await forwardWebsocket({ req, socket, head, target, headers, timeouts: deps.providers.timeouts, clock, direct, requestId: event.requestId, sendError });
      event.status = result.status;
      event.outcome = result.outcome;
      event.error = result.error;
      event.bytesIn += result.bytesIn;
      event.bytesOut += result.bytesOut;
      if (result.upstreamHeadersAt !== undefined) event.upstreamHeadersMs = Math.round(result.upstreamHeadersAt - started);
    } catch (err) {
      log.error({ err, requestId: event.requestId, route: event.route }, 'inference websocket failed inside the gateway');
      socket.destroy();
      event.status = 500;
      event.outcome = 'rejected';
      event.error = 'internal';
    } finally {
      event.latencyMs = Math.round(performance.now() - started);
      record(event);
    }
  }

  return {
    handleRequest(req, res) {
      const { path, query } = splitUrl(req.url);
      const match = matchRoute(path);
      if (!match) return false;
      track(serveHttp(req, res, match, path, query));
      return true;
    },
    handleUpgrade(req, socket, head) {
      const { path, query } = splitUrl(req.url);
      const match = matchRoute(path);
      if (!match) return false;
      track(serveUpgrade(req, socket, head, match, path, query));
      return true;
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
