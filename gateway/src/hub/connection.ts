// One agent's websocket: enforces the session rules of docs/protocol.md (hello first and once, seqs
// increasing on the connection), serialises message handling so acks leave in order, and closes
// only this connection, with a protocol close code, when the peer breaks a rule.
import type { WebSocket } from 'ws';
import type { Clock, ClockTimer, Logger } from '../../../lib/index.ts';
import {
  CLOSE_CODES,
  LIMITS,
  TIMING,
  closeReason,
  parseMessage,
  type AgentMessage,
  type ErrorCode,
  type GatewayMessage,
  type HelloMessage,
} from '../../../protocol/index.ts';
import { overBudget, type ControlPlane, type IngestOutcome, type OverBudget } from '../control/index.ts';
import { StoreUnavailableError, type DeviceTokenIdentity } from '../store/index.ts';

/** The peer broke the protocol: close with this code and reason. */
export class SessionClose extends Error {
  readonly closeCode: number;
  readonly errorCode: ErrorCode;
  constructor(closeCode: number, errorCode: ErrorCode, reason: string) {
    super(reason);
    this.closeCode = closeCode;
    this.errorCode = errorCode;
  }
}

const ERROR_CODE_BY_CLOSE: Record<number, ErrorCode> = {
  [CLOSE_CODES.badMessage.code]: 'bad_message',
  [CLOSE_CODES.tooLarge.code]: 'too_large',
  [CLOSE_CODES.unauthorized.code]: 'unauthorized',
  [CLOSE_CODES.revoked.code]: 'revoked',
  [CLOSE_CODES.tooSlow.code]: 'too_slow',
  [CLOSE_CODES.internal.code]: 'internal',
};

const TOUCH_EVERY_MS = 60_000;
/** While the database is unreachable, an outbox message is written again after this, doubling up to the cap. */
export const STORE_RETRY_FIRST_MS = 250;
export const STORE_RETRY_MAX_MS = 5_000;
/**
 * Messages received and not yet handled, at most, before the connection stops reading (TCP pushes
 * back on the agent); reading resumes once half are handled. The agent sends 8 outbox messages
 * ahead of its acks: this bounds what a peer that does not wait can make the gateway hold in memory
 * while its database is away, or merely slower than the peer.
 */
export const MAX_WAITING_MESSAGES = 64;

export interface ConnectionOptions {
  ws: WebSocket;
  identity: DeviceTokenIdentity;
  control: ControlPlane;
  logger: Logger;
  helloTimeoutMs: number;
  heartbeatS: number;
  /** Stated to the agent in `settings.drain_reconnect_s` (how it spreads its reconnect after 4503). */
  drainReconnectS: number;
  clock: Clock;
  onClosed: (connection: Connection) => void;
}

export class Connection {
  readonly ws: WebSocket;
  readonly identity: DeviceTokenIdentity;
  readonly #control: ControlPlane;
  readonly #logger: Logger;
  readonly #heartbeatS: number;
  readonly #drainReconnectS: number;
  readonly #clock: Clock;
  #hello: HelloMessage | undefined;
  /** True once `settings` and `ack` went out: policy pushes may follow. */
  ready = false;
  /** Answered the last heartbeat ping (or sent anything since). */
  alive = true;
  #sentVersion = 0;
  /** Highest outbox seq received on this connection. */
  #lastSeq = 0;
  #chain: Promise<void> = Promise.resolve();
  #closing = false;
  #helloTimer: ClockTimer | undefined;
  #lastTouch = 0;
  /** Ends the wait before the next write of a held outbox message (the connection closed). */
  #wakeHeld: (() => void) | undefined;
  /** Messages received and not yet handled (queued on #chain). */
  #waiting = 0;
  #readingPaused = false;

  constructor(options: ConnectionOptions) {
    this.ws = options.ws;
    this.identity = options.identity;
    this.#control = options.control;
    this.#logger = options.logger;
    this.#heartbeatS = options.heartbeatS;
    this.#drainReconnectS = options.drainReconnectS;
    this.#clock = options.clock;
    this.#helloTimer = this.#clock.setTimeout(() => {
      this.closeWith(CLOSE_CODES.tooSlow.code, `no hello within ${Math.round(options.helloTimeoutMs / 1000)} s`);
    }, options.helloTimeoutMs);
    this.#helloTimer.unref();
    this.ws.on('message', (data, isBinary) => this.#onMessage(data as Buffer, isBinary));
    this.ws.on('pong', () => {
      this.alive = true;
    });
    this.ws.on('error', (err) => this.#logger.debug({ err: err.message }, 'websocket error'));
    this.ws.on('close', (code, reason) => {
      this.#clock.clearTimeout(this.#helloTimer);
      this.#closing = true;
      this.#wakeHeld?.();
      this.#logger.debug({ code, reason: reason.toString() }, 'agent disconnected');
      options.onClosed(this);
    });
  }

  get deviceId(): string {
    return this.identity.deviceId;
  }

  get isOpen(): boolean {
    return !this.#closing;
  }

  send(message: GatewayMessage): void {
    this.sendText(JSON.stringify(message));
  }

  sendText(text: string): void {
    if (this.#closing || this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(text);
  }

  /** Sends `error`, then closes with `code`; the peer gets a few seconds to answer the close. */
  closeWith(code: number, reason: string): void {
    if (this.#closing) return;
    const short = closeReason(reason);
    const errorCode = ERROR_CODE_BY_CLOSE[code];
    if (errorCode) this.send({ type: 'error', code: errorCode, message: short });
    this.#closing = true;
    this.#wakeHeld?.();
    this.#clock.clearTimeout(this.#helloTimer);
    // A drain closes every connection on purpose; the hub logs it once, not once per agent.
    if (code >= 4000 && code !== CLOSE_CODES.draining.code) this.#logger.warn({ close_code: code, reason: short }, 'closing agent connection');
    this.ws.close(code, short);
    this.#clock.setTimeout(() => this.ws.terminate(), 5_000).unref();
  }

  /** Sends the current policy if it is newer than the last one sent, or always when `force`. */
  async sendPolicy(force = false): Promise<void> {
    const { version, text } = await this.#control.policyMessageFor(this.deviceId);
    if (!force && version <= this.#sentVersion) return;
    this.#sentVersion = Math.max(this.#sentVersion, version);
    this.sendText(text);
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    if (this.#closing) return;
    if (isBinary) {
      this.closeWith(CLOSE_CODES.badMessage.code, 'binary frames are not part of the protocol; send JSON text');
      return;
    }
    const parsed = parseMessage(data, 'agent');
    if (!parsed.ok) {
      this.closeWith(parsed.error.closeCode, parsed.error.message);
      return;
    }
    const message = parsed.message;
    const bytes = data.length;
    if (++this.#waiting >= MAX_WAITING_MESSAGES && !this.#readingPaused) {
      this.#readingPaused = true;
      this.ws.pause();
      this.#logger.warn({ device_id: this.deviceId, waiting: this.#waiting }, 'the agent is this many messages ahead of the gateway: reading from it paused until half are handled');
    }
    this.#chain = this.#chain.then(async () => {
      try {
        if (this.#closing) return;
        const limit = this.#control.budgets().message_bytes;
        if (bytes > limit && message.type !== 'hello') await this.#refuseLarge(message, overBudget('message_bytes', limit, bytes, `${message.type} of ${bytes} bytes`));
        else await this.#handle(message);
      } catch (err) {
        if (err instanceof SessionClose) {
          this.closeWith(err.closeCode, err.message);
        } else {
          this.#logger.error({ err, type: message.type }, 'failed to handle an agent message');
          this.closeWith(CLOSE_CODES.internal.code, `the gateway failed to handle ${message.type}`);
        }
      } finally {
        if (--this.#waiting <= MAX_WAITING_MESSAGES / 2 && this.#readingPaused) {
          this.#readingPaused = false;
          this.ws.resume();
        }
      }
    });
  }

  #checkSeqs(first: number, last: number, what: string): void {
    if (first <= this.#lastSeq) {
      throw new SessionClose(
        CLOSE_CODES.badMessage.code,
        'bad_message',
        `${what} seq ${first} is out of order: seq ${this.#lastSeq} was already sent on this connection`,
      );
    }
    this.#lastSeq = last;
  }

  #stream(): string {
    return this.#hello!.outbox_stream;
  }

  async #touch(): Promise<void> {
    const now = this.#clock.now();
    if (now - this.#lastTouch < TOUCH_EVERY_MS) return;
    this.#lastTouch = now;
    try {
      await this.#control.touchDevice(this.deviceId);
    } catch (err) {
      // "Last seen" is bookkeeping: the message it follows is stored and acknowledged, so the connection goes on.
      this.#logger.warn({ err, device_id: this.deviceId }, 'could not record when the device was last seen');
    }
  }

  /**
   * Writes an outbox message, waiting out a lost database: the agent keeps its connection and gets
   * its ack once the database is back (closing instead would have every agent of the replica
   * reconnect, and fail to, for as long as the outage lasts). Ingestion is idempotent per seq, so a
   * write whose commit was lost in the outage is safely written again. Messages after it wait on
   * the connection's chain, bounded by the agent's in-flight window.
   */
  async #whenStored<T>(write: () => Promise<T>, type: string): Promise<T> {
    let delay = STORE_RETRY_FIRST_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (!(err instanceof StoreUnavailableError) || this.#closing) throw err;
        if (attempt === 1) this.#logger.warn({ device_id: this.deviceId, type }, "the database is unreachable: holding the agent's message until it is back");
        await new Promise<void>((resolve) => {
          const timer = this.#clock.setTimeout(() => resolve(), delay);
          this.#wakeHeld = () => {
            this.#clock.clearTimeout(timer);
            resolve();
          };
        });
        this.#wakeHeld = undefined;
        if (this.#closing) throw err;
        delay = Math.min(delay * 2, STORE_RETRY_MAX_MS);
      }
    }
  }

  /** Answers an outbox message with `over_budget` then `ack` (its seq is handled: the agent does not resend it). */
  #answerOutbox(message: { id?: string | undefined }, seq: number | undefined, outcome: IngestOutcome): void {
    if (outcome.over) this.#sendOverBudget(outcome.over, seq, message.id);
    this.send({ type: 'ack', outbox_stream: this.#stream(), seq: outcome.highSeq, ...(message.id ? { id: message.id } : {}) });
  }

  #sendOverBudget(over: OverBudget, seq: number | undefined, id: string | undefined): void {
    this.send({ type: 'over_budget', ...(id ? { id } : {}), budget: over.budget, limit: over.limit, got: over.got, ...(seq === undefined ? {} : { seq }), message: over.message.slice(0, 1024) });
  }

  /** A message over the device's message_bytes budget (within the protocol's limit): refused, the connection goes on. */
  async #refuseLarge(message: AgentMessage, over: OverBudget): Promise<void> {
    if (!this.#hello) {
      throw new SessionClose(CLOSE_CODES.badMessage.code, 'bad_message', `${message.type} before hello: hello must be the first message`);
    }
    if (message.type === 'events' || message.type === 'inventory.apps' || message.type === 'inventory.mcp') {
      const [first, last] = message.type === 'events' ? [message.seq_from, message.events[message.events.length - 1]!.seq] : [message.seq, message.seq];
      this.#checkSeqs(first, last, message.type);
      const stream = this.#stream();
      this.#answerOutbox(message, last, await this.#whenStored(() => this.#control.refuseOutboxMessage(this.deviceId, stream, last, message.type, over), message.type));
      return;
    }
    await this.#control.recordOverBudget(this.deviceId, over, { message_type: message.type });
    this.#sendOverBudget(over, undefined, message.id);
  }

  async #handle(message: AgentMessage): Promise<void> {
    if (message.type !== 'hello' && !this.#hello) {
      throw new SessionClose(CLOSE_CODES.badMessage.code, 'bad_message', `${message.type} before hello: hello must be the first message`);
    }
    switch (message.type) {
      case 'hello':
        return this.#onHello(message);
      case 'events': {
        const last = message.events[message.events.length - 1]!.seq;
        this.#checkSeqs(message.seq_from, last, 'events');
        const stream = this.#stream();
        const allowed = this.#control.admitEvents(this.deviceId, message.events.length);
        this.#answerOutbox(message, last, await this.#whenStored(() => this.#control.ingestEvents(this.deviceId, stream, message.events, allowed), 'events'));
        await this.#touch();
        return;
      }
      case 'inventory.apps':
      case 'inventory.mcp': {
        this.#checkSeqs(message.seq, message.seq, message.type);
        const stream = this.#stream();
        this.#answerOutbox(message, message.seq, await this.#whenStored(() => this.#control.ingestInventory(this.deviceId, stream, message), message.type));
        await this.#touch();
        return;
      }
      case 'cert.sign': {
        const leaf = await this.#control.signLeaf(this.deviceId, message.csr_pem, message.hosts);
        this.#logger.info({ hosts: message.hosts, ok: leaf.ok, ...(leaf.ok ? {} : { code: leaf.code }) }, 'leaf certificate request');
        this.send(
          leaf.ok
            ? { type: 'cert', id: message.id, ok: true, cert_pem: leaf.certPem, ca_pem: leaf.caPem, not_after: leaf.notAfter }
            : { type: 'cert', id: message.id, ok: false, error: { code: leaf.code, message: closeReason(leaf.message.slice(0, 1000)) } },
        );
        return;
      }
      case 'approval.request': {
        const over = await this.#control.approvalRequest(this.deviceId, message);
        if (over) this.#sendOverBudget(over, undefined, message.id);
        return;
      }
      case 'resync':
        await this.sendPolicy(true);
        return;
      case 'ping':
        this.send({ type: 'pong', ...(message.id ? { id: message.id } : {}), at: new Date(this.#clock.now()).toISOString() });
        return;
      case 'pong':
        return;
    }
  }

  async #onHello(hello: HelloMessage): Promise<void> {
    if (this.#hello) throw new SessionClose(CLOSE_CODES.badMessage.code, 'bad_message', 'hello sent twice on one connection');
    if (hello.device_id !== this.identity.deviceId) {
      throw new SessionClose(CLOSE_CODES.unauthorized.code, 'unauthorized', 'hello.device_id is not the device this token was issued to');
    }
    this.#clock.clearTimeout(this.#helloTimer);
    this.#hello = hello;
    await this.#control.recordHello(this.deviceId, hello);
    this.#lastTouch = this.#clock.now();
    this.send({
      type: 'settings',
      server_time: new Date(this.#clock.now()).toISOString(),
      heartbeat_s: this.#heartbeatS,
      hello_timeout_s: TIMING.helloTimeoutS,
      max_message_bytes: Math.min(LIMITS.maxAgentMessageBytes, this.#control.budgets().message_bytes),
      max_events_per_batch: LIMITS.maxEventsPerBatch,
      drain_reconnect_s: this.#drainReconnectS,
    });
    const high = await this.#control.highSeq(this.deviceId, hello.outbox_stream);
    this.send({ type: 'ack', outbox_stream: hello.outbox_stream, seq: high });
    this.ready = true;
    this.#logger.info(
      { agent_version: hello.agent_version, policy_version: hello.policy_version, outbox_first_seq: hello.outbox_first_seq, acked: high },
      'agent connected',
    );
    await this.sendPolicy();
  }
}
