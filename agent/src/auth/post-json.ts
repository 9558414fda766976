// One JSON POST to the control plane with the safety a secret-carrying request needs: no redirects
// followed (a 3xx would otherwise carry the body elsewhere), a total deadline, a bounded reply, and an
// optional private CA for gateways behind an internal PKI.
import http from 'node:http';
import https from 'node:https';

export interface PostJsonOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  /** PEM of extra CAs to trust for https (the system's Node roots are used otherwise). */
  ca?: string | undefined;
}

export interface PostJsonReply {
  status: number;
  /** The parsed JSON body, or undefined when it was empty, not JSON, or too large. */
  body: unknown;
  tooLarge: boolean;
}

export class TransportError extends Error {
  readonly reason: 'timeout' | 'network';
  constructor(reason: 'timeout' | 'network', message: string) {
    super(message);
    this.name = 'TransportError';
    this.reason = reason;
  }
}

export function postJson(url: URL, payload: unknown, options: PostJsonOptions): Promise<PostJsonReply> {
  const body = Buffer.from(JSON.stringify(payload));
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const req = client.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': body.length },
        ...(options.ca !== undefined && url.protocol === 'https:' ? { ca: options.ca } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let tooLarge = false;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxResponseBytes) {
            tooLarge = true;
            res.destroy();
            finish(() => resolve({ status: res.statusCode ?? 0, body: undefined, tooLarge }));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = chunks.length === 0 ? undefined : JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          finish(() => resolve({ status: res.statusCode ?? 0, body: parsed, tooLarge }));
        });
        res.on('error', (err) => finish(() => reject(new TransportError('network', err.message))));
      },
    );
    const timer = setTimeout(() => {
      finish(() => reject(new TransportError('timeout', `no complete answer within ${options.timeoutMs} ms`)));
      req.destroy();
    }, options.timeoutMs);
    // Errors from node:net carry only codes and addresses (ECONNREFUSED 127.0.0.1:443), never the body.
    req.on('error', (err: NodeJS.ErrnoException) => finish(() => reject(new TransportError('network', err.code ?? err.message))));
    req.end(body);
  });
}
