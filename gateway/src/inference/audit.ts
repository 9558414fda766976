// One audit event per inference request: who (user, key, device, app), what (route, provider,
// model), how it went (status, outcome, latency, bytes). Never a body, never a credential.
import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderId } from './providers.ts';
import type { Transport } from './routes.ts';

export type InferenceOutcome =
  | 'ok' // the upstream answered (any status) and the answer reached the client whole
  | 'unauthenticated' // no, unknown or revoked virtual key
  | 'forbidden' // direct key asked for but not allowed
  | 'rejected' // the gateway refused the request itself (unknown endpoint, unsafe path, provider not configured)
  | 'upstream_unreachable' // connection refused, reset, DNS or TLS failure before an answer
  | 'upstream_timeout' // connect or response-headers timeout
  | 'stream_interrupted' // the upstream went silent or broke off after the answer started
  | 'client_aborted'; // the client went away first

export interface InferenceAuditEvent {
  /** Also sent to the client as `x-heimdall-request-id`. */
  requestId: string;
  /** When the request arrived (ISO 8601). */
  at: string;
  method: string;
  /** Route prefix name from the route table, e.g. `openai` or `anthropic_passthrough`. */
  route: string;
  /** Endpoint id when one matched, e.g. `openai.chat.completions`. */
  endpoint: string | undefined;
  provider: ProviderId;
  /** Where the request went: the provider's API, an upstream Bifrost, or nowhere (refused here). */
  upstream: 'provider' | 'bifrost' | 'none';
  transport: Transport;
  model: string | undefined;
  /**
   * `x-bf-dim-app` as claimed by a device that proved itself with its device token (a short plain
   * token, else `invalid`); undefined for a request without a valid device token.
   */
  app: string | undefined;
  /** The device its device token proved; never the client's `x-bf-dim-device`. */
  device: string | undefined;
  keyId: string | undefined;
  userId: string | undefined;
  userEmail: string | undefined;
  /** Served under the organization's unattributed key: a device's request from an OS user not signed in. */
  unattributed?: boolean;
  /** The app's own provider credential was forwarded (`x-bf-direct-key`). */
  directKey: boolean;
  /** HTTP status sent to the client (101 for a websocket that was opened; 0 when nothing was sent). */
  status: number;
  outcome: InferenceOutcome;
  /** Short machine reason for a failure, e.g. `ECONNREFUSED`, `headers_timeout`; never a message from upstream. */
  error: string | undefined;
  /** Arrival to last byte (for a websocket: to close). */
  latencyMs: number;
  /** Arrival to the upstream's response headers, when they came. */
  upstreamHeadersMs: number | undefined;
  /** Body bytes received from the client (websocket: frames bytes client -> upstream). */
  bytesIn: number;
  /** Body bytes sent to the client (websocket: frames bytes upstream -> client). */
  bytesOut: number;
}

const DIMENSION = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** A bounded attribution value from an `x-bf-dim-*` header. */
export function dimension(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  const value = (Array.isArray(v) ? v[0] : v)?.trim();
  if (value === undefined || value === '') return undefined;
  return DIMENSION.test(value) ? value : 'invalid';
}

const MODEL_SNIFF_LIMIT = 4096;
const MODEL_FIELD = /"model"\s*:\s*"([A-Za-z0-9._:/@+-]{1,128})"/;

/**
 * Finds `"model": "..."` in the first few KiB of a JSON request body as it streams past, without
 * holding the body back. SDKs write `model` first, so this almost always finds it; when not, the
 * audit simply has no model.
 */
export class ModelSniffer {
  #seen = '';
  #model: string | undefined;
  #done = false;
  feed(chunk: Buffer): void {
    if (this.#done) return;
    this.#seen += chunk.toString('utf8', 0, Math.min(chunk.length, MODEL_SNIFF_LIMIT - this.#seen.length));
    const m = MODEL_FIELD.exec(this.#seen);
    if (m) {
      this.#model = m[1];
      this.#done = true;
    } else if (this.#seen.length >= MODEL_SNIFF_LIMIT) {
      this.#done = true;
    }
  }
  get model(): string | undefined {
    return this.#model;
  }
}
