// One JSON POST to the control plane with the safety a secret-carrying request needs: no redirects
// followed (a 3xx would otherwise carry the body elsewhere), a total deadline, a bounded reply, and an
// optional private CA for gateways behind an internal PKI.
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';

export interface PostJsonOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  /** PEM of the only CAs to trust for https (tests, a private PKI given explicitly). */
  ca?: string | undefined;
  /** Otherwise the roots to trust for https (the daemon's bundled + OS store context); Node's bundled roots when absent. */
  secureContext?: tls.SecureContext | undefined;
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
  return requestJson(url, { method: 'POST', body: Buffer.from(JSON.stringify(payload)), contentType: 'application/json' }, options);
}

export interface JsonRequest {
  method: 'GET' | 'POST';
  body?: Buffer;
  contentType?: string;
  /** Extra request headers (the device token for the OAuth endpoints). */
  headers?: Record<string, string>;
}

/** One request whose answer is JSON, with postJson's safety (no redirects, deadline, bounded reply). */
export function requestJson(url: URL, request: JsonRequest, options: PostJsonOptions): Promise<PostJsonReply> {
  const body = request.body;
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
        method: request.method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': request.contentType ?? 'application/json', 'content-length': body.length } : {}),
          ...request.headers,
        },
        ...(url.protocol !== 'https:' ? {} : options.ca !== undefined ? { ca: options.ca } : options.secureContext ? { secureContext: options.secureContext } : {}),
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
    req.on('error', (err: NodeJS.ErrnoException) => finish(() => reject(new TransportError('network', describeNetworkError(err)))));
    req.end(body);
  });
}

// OpenSSL's verdicts when the chain does not lead to a trusted root.
const UNTRUSTED_CHAIN = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED']);

/** A network error as a person can act on it; TLS verification failures say what to fix. */
function describeNetworkError(err: NodeJS.ErrnoException): string {
  const code = err.code;
  if (code !== undefined && UNTRUSTED_CHAIN.has(code)) {
    return `its TLS certificate is not trusted on this machine (${code}); install the organization's CA in the system certificate store`;
  }
  if (code === 'CERT_HAS_EXPIRED') return `its TLS certificate has expired (${code})`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `its TLS certificate is not for this host name (${code})`;
  return code ?? err.message;
}
