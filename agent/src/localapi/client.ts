// The CLI's side of the local API.
import { request } from 'node:http';

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

export interface LocalApiReply<T = unknown> {
  status: number;
  body: T;
}

export function callLocalApi<T = unknown>(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<LocalApiReply<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath, method, path, timeout: timeoutMs, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
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
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ETIMEDOUT'].includes(err.code ?? '')) reject(new DaemonUnreachableError(socketPath, err.code));
      else reject(err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}
