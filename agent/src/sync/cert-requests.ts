// The certificate request stage (ca_mode gateway): a CSR goes up as `cert.sign` with an id, the
// gateway's `cert` answer with that id settles it; no answer in time, a stopped channel, or no
// channel at all rejects it. Requests are not queued: the TLS room asks again for its next leaf.
import type { AgentMessage, CertMessage } from '../../../protocol/index.ts';
import type { Clock, ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';

export class SyncError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncError';
  }
}

export interface CertificateRequestsOptions {
  /** Sends on the channel when it is usable; false when it is not. */
  send: (message: AgentMessage) => boolean;
  /** The channel's state in words, for the error when it cannot send. */
  channelState: () => string;
  clock: Clock;
  logger: Logger;
}

interface Pending {
  resolve: (m: CertMessage) => void;
  reject: (e: Error) => void;
  timer: ClockTimer;
}

const DEFAULT_CERT_TIMEOUT_MS = 15_000;

export class CertificateRequests {
  readonly #o: CertificateRequestsOptions;
  readonly #pending = new Map<string, Pending>();
  #counter = 0;

  constructor(options: CertificateRequestsOptions) {
    this.#o = options;
  }

  /** Asks the gateway-held CA for a leaf. Rejects when the channel cannot send or after `timeoutMs`. */
  request(csrPem: string, hosts: string[], timeoutMs = DEFAULT_CERT_TIMEOUT_MS): Promise<CertMessage> {
    const id = `cert-${this.#o.clock.now().toString(36)}-${(++this.#counter).toString(36)}`;
    return new Promise((resolve, reject) => {
      const timer = this.#o.clock.setTimeout(() => {
        this.#pending.delete(id);
        reject(new SyncError(`the gateway did not answer the certificate request within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
      if (!this.#o.send({ type: 'cert.sign', id, csr_pem: csrPem, hosts })) {
        this.#o.clock.clearTimeout(timer);
        this.#pending.delete(id);
        reject(new SyncError(`cannot request a certificate: the sync channel is ${this.#o.channelState()}`));
      }
    });
  }

  /** The gateway's answer; one for no pending request (late, or not ours) is ignored. */
  answer(message: CertMessage): void {
    const pending = this.#pending.get(message.id);
    if (!pending) {
      this.#o.logger.debug({ id: message.id }, 'sync channel: certificate answer for no pending request; ignored');
      return;
    }
    this.#o.clock.clearTimeout(pending.timer);
    this.#pending.delete(message.id);
    pending.resolve(message);
  }

  /** Rejects every pending request (the channel stopped). */
  failAll(reason: string): void {
    for (const [id, pending] of this.#pending) {
      this.#o.clock.clearTimeout(pending.timer);
      pending.reject(new SyncError(reason));
      this.#pending.delete(id);
    }
  }
}
