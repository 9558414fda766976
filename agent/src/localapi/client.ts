// The CLI's side of the local API: a unix socket, or loopback TCP on Windows (endpoint.ts), where the
// server is checked to be the Heimdall service before anything is sent (server-check.ts).
import { request, type ClientRequest } from 'node:http';
import { createConnection, type Socket } from 'node:net';
import { WINDOWS_LOCAL_API_PORT } from '../lib/platform.ts';
import { loadPeerCredAddon } from './addon.ts';
import { formatEndpoint, LOCAL_API_CLIENT_HEADER, parseLocalEndpoint, type LocalEndpoint } from './endpoint.ts';
import { serviceOwnerCheck, type ServerCheck } from './server-check.ts';

export class DaemonUnreachableError extends Error {
  readonly socketPath: string;
  readonly code: string | undefined;

  constructor(socketPath: string, code: string | undefined) {
    super(`the Heimdall daemon is not running or not reachable (no answer on ${socketPath}${code ? `: ${code}` : ''})`);
    this.name = 'DaemonUnreachableError';
    this.socketPath = socketPath;
    this.code = code;
  }
}

/** The process answering on the endpoint is not the daemon: nothing was sent to it. */
export class UntrustedDaemonError extends Error {
  constructor(endpoint: string, why: string) {
    super(`refusing to talk to ${endpoint}: ${why}`);
    this.name = 'UntrustedDaemonError';
  }
}

export interface LocalApiReply<T = unknown> {
  status: number;
  body: T;
}

/** The check the machine daemon's Windows endpoint gets; development daemons (other ports) run as their user, no service. */
function defaultServerCheck(endpoint: LocalEndpoint): ServerCheck | undefined {
  if (process.platform !== 'win32' || endpoint.kind !== 'tcp' || endpoint.port !== WINDOWS_LOCAL_API_PORT) return undefined;
  return serviceOwnerCheck(loadPeerCredAddon());
}

export interface CallOptions {
  timeoutMs?: number;
  /** Runs once connected, before a byte is sent; a reason refuses the server. Default: per platform. */
  checkServer?: ServerCheck;
}

export function callLocalApi<T = unknown>(socketPath: string, method: string, path: string, body?: unknown, timeoutOrOptions: number | CallOptions = {}): Promise<LocalApiReply<T>> {
  const options = typeof timeoutOrOptions === 'number' ? { timeoutMs: timeoutOrOptions } : timeoutOrOptions;
  const endpoint = parseLocalEndpoint(socketPath);
  const shown = formatEndpoint(endpoint);
  const checkServer = options.checkServer ?? defaultServerCheck(endpoint);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { [LOCAL_API_CLIENT_HEADER]: '1', ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) };
    const where = endpoint.kind === 'tcp' ? { host: endpoint.host, port: endpoint.port } : { socketPath: endpoint.path };
    // One request per connection, on a socket of our own instead of the shared agent's pool: the CLI
    // makes one call and exits, and the agent's set-up (it parses the host as an IP address with a
    // regular expression V8 compiles on first use) was a measurable part of `heimdall exec`'s start.
    const req: ClientRequest = request({ ...where, createConnection: () => createConnection(endpoint.kind === 'tcp' ? { host: endpoint.host, port: endpoint.port } : { path: endpoint.path }), method, path, timeout: options.timeoutMs ?? 10_000, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as T });
        } catch {
          reject(new Error(`the daemon answered ${res.statusCode ?? '?'} with a body that is not JSON`));
        }
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof UntrustedDaemonError) reject(err);
      else if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ETIMEDOUT'].includes(err.code ?? '')) reject(new DaemonUnreachableError(shown, err.code));
      else reject(err);
    });
    const send = (): void => {
      if (payload) req.write(payload);
      req.end();
    };
    if (!checkServer) return send();
    // Nothing is written until the check passed: not the headers, not the body.
    req.once('socket', (socket: Socket) => {
      const verify = (): void => {
        void Promise.resolve(checkServer(socket)).then(
          (why) => (why === undefined ? send() : req.destroy(new UntrustedDaemonError(shown, why))),
          (err: unknown) => req.destroy(new UntrustedDaemonError(shown, `the check failed: ${(err as Error).message}`)),
        );
      };
      if (socket.connecting) socket.once('connect', verify);
      else verify();
    });
  });
}
