// The local API: HTTP over a unix socket (loopback TCP on Windows, endpoint.ts says why) for the CLI
// and the per-user helper. Browsers cannot reach a unix socket, but requests carrying Origin/Referer
// are refused anyway; on TCP, which pages can reach, refuseOnTcp asks more.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../lib/logger.ts';
import { decideAccess, type CallerView, type LocalPermission } from './access.ts';
import { parseLocalEndpoint, refuseOnTcp, type LocalEndpoint } from './endpoint.ts';
import type { CallerResolver, LocalCaller } from './peer-credentials.ts';

export interface LocalRequest {
  /** Who is calling, from the kernel; undefined when the daemon cannot tell (see `view`). */
  caller: LocalCaller | undefined;
  /** Whose data this request may show or change, from the route's permission and the caller. */
  view: CallerView;
  body: unknown;
  query: URLSearchParams;
  /** The path's last segment where the route's path ends in `/:name` (e.g. a login id). */
  param: string | undefined;
}

export interface LocalResponse {
  status: number;
  body: unknown;
}

export interface LocalRoute {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** What a caller may do here (every route declares one: docs/security.md lists them). */
  permission: LocalPermission;
  handle(request: LocalRequest): Promise<LocalResponse> | LocalResponse;
}

export interface LocalApiOptions {
  /** A unix socket's path, or `127.0.0.1:<port>` (Windows). */
  socketPath: string;
  routes: readonly LocalRoute[];
  resolveCaller: CallerResolver;
  /** Marks a request as work in flight until it is answered (the daemon's shutdown waits for it). */
  track?: () => () => void;
  logger: Logger;
}

const MAX_BODY_BYTES = 64 * 1024;

export class LocalApiError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new LocalApiError(413, `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new LocalApiError(400, 'request body is not valid JSON');
  }
}

/** Removes a socket file left by a daemon that died, but never one a live daemon answers on. */
async function claimSocketPath(socketPath: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another Heimdall daemon is already answering on ${socketPath}`);
  await rm(socketPath, { force: true });
}

export class LocalApi {
  readonly #server: Server;
  readonly #options: LocalApiOptions;
  readonly #routes = new Map<string, LocalRoute>();
  /** Routes whose path ends in `/:name`, by `METHOD prefix/`. */
  readonly #paramRoutes = new Map<string, LocalRoute>();
  readonly #endpoint: LocalEndpoint;

  constructor(options: LocalApiOptions) {
    this.#options = options;
    this.#endpoint = parseLocalEndpoint(options.socketPath);
    for (const route of options.routes) {
      const param = /^(.*\/):[a-z_]+$/.exec(route.path);
      if (param) this.#paramRoutes.set(`${route.method} ${param[1]}`, route);
      else this.#routes.set(`${route.method} ${route.path}`, route);
    }
    this.#server = createServer((req, res) => {
      const done = options.track?.();
      if (done) res.once('close', done);
      this.#handle(req, res).catch((err: unknown) => {
        options.logger.error({ err: (err as Error).message, path: req.url }, 'local API handler failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error; see the daemon log' });
        else res.destroy();
      });
    });
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.origin !== undefined || req.headers.referer !== undefined) {
      send(res, 403, { error: 'requests from web pages are refused' });
      return;
    }
    const refused = this.#endpoint.kind === 'tcp' ? refuseOnTcp(req.headers, this.#endpoint.port) : undefined;
    if (refused !== undefined) {
      send(res, 403, { error: refused });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://heimdall.local');
    const slash = url.pathname.lastIndexOf('/');
    const segment = url.pathname.slice(slash + 1);
    const exact = this.#routes.get(`${req.method ?? 'GET'} ${url.pathname}`);
    // A parameter is one plain segment (letters, digits, `-`, `_`), never a path.
    const route = exact ?? (/^[A-Za-z0-9_-]{1,64}$/.test(segment) ? this.#paramRoutes.get(`${req.method ?? 'GET'} ${url.pathname.slice(0, slash + 1)}`) : undefined);
    const param = exact ? undefined : segment;
    if (!route) {
      send(res, 404, { error: `no local API route ${req.method ?? ''} ${url.pathname}` });
      return;
    }
    // The kernel's answer is about the process that connected; it is asked before the body is read.
    const lookup = this.#options.resolveCaller(req.socket);
    const access = decideAccess(route.permission, lookup);
    if ('refuse' in access) {
      send(res, 403, { error: access.refuse, code: 'unknown_caller' });
      return;
    }
    try {
      const body = await readJsonBody(req);
      const caller = 'caller' in lookup ? lookup.caller : undefined;
      const result = await route.handle({ caller, view: access.view, body, query: url.searchParams, param });
      send(res, result.status, result.body);
    } catch (err) {
      if (err instanceof LocalApiError) send(res, err.status, { error: err.message });
      else throw err;
    }
  }

  async listen(): Promise<void> {
    const endpoint = this.#endpoint;
    if (endpoint.kind === 'socket') {
      await mkdir(path.dirname(endpoint.path), { recursive: true, mode: 0o755 });
      await claimSocketPath(endpoint.path);
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      const ready = (): void => {
        this.#server.off('error', reject);
        resolve();
      };
      // exclusive: no other process (another user's included) may share the port with SO_REUSEADDR.
      if (endpoint.kind === 'tcp') this.#server.listen({ host: endpoint.host, port: endpoint.port, exclusive: true }, ready);
      else this.#server.listen(endpoint.path, ready);
    });
    // Any local user may connect; each route's permission decides what that caller may see or do.
    if (endpoint.kind === 'socket') await chmod(endpoint.path, 0o666);
  }

  stopAccepting(): void {
    this.#server.close();
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    if (this.#endpoint.kind === 'socket') await rm(this.#endpoint.path, { force: true });
  }
}
