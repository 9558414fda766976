// The connection stage: one websocket to the control plane, from the upgrade to its end. It sends
// `hello`, keeps the socket alive (answers pings, pings back, drops a peer silent for two heartbeats),
// turns frames into protocol messages (everything received is hostile until it passes the schema),
// and says how it ended: revoked (never retry until a login), drained (retry within the gateway's
// window) or lost (retry after backoff).
// Reconnecting is the client's, with reconnect.ts; what the messages mean is the other stages'.
import WebSocket from 'ws';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type tls from 'node:tls';
import { CLOSE_CODES, LIMITS, SUBPROTOCOL, TIMING, encodeMessage, helloSchema, parseMessage } from '../../../protocol/index.ts';
import type { AgentMessage, GatewayMessage, HelloMessage, ProtocolError } from '../../../protocol/index.ts';
import type { DeviceFacts } from '../auth/index.ts';
import type { Clock, ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';

/** What the other stages need from the open connection. */
export interface Link {
  /** Sends now; false when the socket is closing or closed. */
  send(message: AgentMessage): boolean;
  /** Sends a message already encoded as JSON (the outbox's events, joined from their stored text). */
  sendEncoded(text: string): boolean;
  readonly ended: boolean;
  /** Bytes queued in the socket and not yet written (the sender stops filling above a bound). */
  bufferedBytes(): number;
}

export interface ConnectionEnd {
  /** Why, in words for a person. */
  reason: string;
  /** The gateway refused this device or its token: do not reconnect until the next login. */
  revoked: boolean;
  /** The websocket opened before it ended (a lost channel, not a failed attempt). */
  opened: boolean;
  /** The HTTP status the gateway refused the upgrade with, if it did (401: the token expired or is unknown). */
  httpStatus?: number | undefined;
  /** The close code of a websocket that opened (4503: the gateway replica is draining). */
  closeCode?: number | undefined;
}

export interface ConnectionEvents {
  /** A message that passed the protocol, other than the transport's own (ping, pong). */
  message(message: GatewayMessage): void;
  /** A message that failed the protocol (counted; too many close the connection). */
  invalid(error: ProtocolError): void;
  /** Something went wrong that status should show, while the connection goes on or closes. */
  problem(text: string): void;
  /** Once, when the socket closed (not after `abandon`). */
  ended(end: ConnectionEnd): void;
}

export interface ConnectionOptions {
  url: string;
  deviceToken: string;
  /** Built when the socket opens, so it carries the policy version and outbox position of that moment. */
  hello: () => HelloMessage;
  events: ConnectionEvents;
  clock: Clock;
  logger: Logger;
  handshakeTimeoutMs: number;
  ca?: string;
  secureContext?: tls.SecureContext;
}

export const REVOKED_HINT = 'run `heimdall login` to enroll this device again';
// A gateway that keeps sending garbage is closed after this many bad messages on one connection.
const MAX_BAD_MESSAGES = 20;
const STOP_WAIT_MS = 2000;

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

export interface HelloInput {
  facts: DeviceFacts;
  users: { osUser: string; userId: string | undefined }[];
  policyVersion: number | null;
  outboxStream: string;
  outboxFirstSeq: number | null;
}

/**
 * The first message on every connection. `problem` says, for a person, why it fails the protocol (our
 * bug or an odd machine: the gateway will refuse it with 4400); it is sent anyway so the gateway's
 * answer is what the logs show.
 */
export function helloMessage(input: HelloInput): { hello: HelloMessage; problem: string | undefined } {
  const { facts } = input;
  const hello: HelloMessage = {
    type: 'hello',
    device_id: facts.deviceId,
    hostname: facts.hostname,
    os: facts.os,
    os_version: facts.osVersion,
    arch: facts.arch,
    agent_version: facts.agentVersion,
    users: input.users.slice(0, LIMITS.maxUsers).map((u) => (u.userId !== undefined ? { os_user: u.osUser, user_id: u.userId } : { os_user: u.osUser })),
    policy_version: input.policyVersion,
    outbox_stream: input.outboxStream,
    outbox_first_seq: input.outboxFirstSeq,
  };
  const checked = helloSchema.safeParse(hello);
  if (checked.success) return { hello, problem: undefined };
  const issue = checked.error.issues[0];
  return { hello, problem: `this device's hello fails the protocol at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}` };
}

export class Connection implements Link {
  readonly url: string;
  readonly deviceToken: string;
  readonly #o: ConnectionOptions;
  readonly #ws: WebSocket;
  #opened = false;
  #ended = false;
  /** Set by a non-101 answer to the upgrade. */
  #httpStatus: number | undefined;
  /** The last transport error, the reason of a connection that never opened. */
  #error: string | undefined;
  #timedOut = false;
  #lastHeardAt: number;
  #heartbeatMs = TIMING.heartbeatS * 1000;
  #badMessages = 0;
  #timer: ClockTimer | undefined;

  /** Opens the socket at once; throws when `ws` refuses the URL or options. */
  constructor(options: ConnectionOptions) {
    this.#o = options;
    this.url = options.url;
    this.deviceToken = options.deviceToken;
    this.#lastHeardAt = options.clock.now();
    const ws = new WebSocket(options.url, [SUBPROTOCOL], {
      headers: { authorization: `Bearer ${options.deviceToken}` },
      maxPayload: LIMITS.maxGatewayMessageBytes,
      followRedirects: false,
      ...(options.ca !== undefined ? { ca: options.ca } : options.secureContext ? { secureContext: options.secureContext } : {}),
    });
    this.#ws = ws;
    // The opening handshake's deadline runs on the injected clock; the socket's end is then 'close'.
    this.#timer = options.clock.setTimeout(() => {
      if (this.#opened || this.#ended) return;
      this.#error = `the gateway did not complete the websocket handshake within ${options.handshakeTimeoutMs} ms`;
      this.#timedOut = true;
      ws.terminate();
    }, options.handshakeTimeoutMs);
    this.#timer.unref();
    ws.on('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
      this.#httpStatus = res.statusCode;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => this.#onOpen());
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.#onRaw(data, isBinary));
    ws.on('ping', () => this.#heard());
    ws.on('pong', () => this.#heard());
    ws.on('error', (err: Error) => {
      // Handshake and transport errors; 'close' follows and decides what to do.
      // (After our own handshake deadline, ws reports the abort as an error; the deadline is the news.)
      if (!this.#ended && !this.#timedOut) this.#error = `sync channel ${options.url}: ${truncate(err.message, 200)}`;
    });
    ws.on('close', (code: number, reason: Buffer) => this.#onClose(code, reason.toString('utf8')));
  }

  get ended(): boolean {
    return this.#ended;
  }

  send(message: AgentMessage): boolean {
    return this.sendEncoded(encodeMessage(message));
  }

  sendEncoded(text: string): boolean {
    if (this.#ended || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(text);
    return true;
  }

  bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  /** The gateway's heartbeat from `settings`, bounded: 1 s must not become a ping storm, nor a huge one a dead detector. */
  setHeartbeat(heartbeatS: number): void {
    this.#heartbeatMs = Math.min(Math.max(heartbeatS, 5), 600) * 1000;
  }

  /** Ends this connection now without telling `events.ended` (the caller is already moving on). */
  abandon(): void {
    this.#finish();
    this.#ws.terminate();
  }

  /** Closes with a close frame; resolves when the socket is closed, or terminates it after 2 s. */
  async close(code: number, reason: string): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const fallback = this.#o.clock.setTimeout(() => {
        this.#ws.terminate();
        resolve();
      }, STOP_WAIT_MS);
      this.#ws.once('close', () => {
        this.#o.clock.clearTimeout(fallback);
        resolve();
      });
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(code, reason);
      else this.#ws.terminate();
    });
  }

  #heard(): void {
    this.#lastHeardAt = this.#o.clock.now();
  }

  #onOpen(): void {
    if (this.#ended) return;
    this.#opened = true;
    this.#heard();
    this.send(this.#o.hello());
    this.#scheduleLiveness();
  }

  // Liveness: the gateway pings every heartbeat; we ping too, and a peer silent for two heartbeats
  // (a half-open TCP connection after a network change) is dropped and reconnected.
  #scheduleLiveness(): void {
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = this.#o.clock.setTimeout(
      () => {
        if (this.#ended) return;
        if (this.#o.clock.now() - this.#lastHeardAt > 2 * this.#heartbeatMs + 5000) {
          this.#o.logger.warn({ url: this.url }, 'sync channel: gateway silent for two heartbeats; reconnecting');
          this.#o.events.problem('the gateway stopped answering (no ping or message for two heartbeats)');
          this.#ws.terminate();
          return;
        }
        try {
          this.#ws.ping();
        } catch {
          // closing; 'close' follows
        }
        this.#scheduleLiveness();
      },
      Math.max(1000, Math.floor(this.#heartbeatMs / 2)),
    );
    this.#timer.unref();
  }

  #onRaw(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#ended) return;
    this.#heard();
    if (isBinary) {
      this.#invalid({ kind: 'invalid', closeCode: CLOSE_CODES.badMessage.code, message: 'binary frame; the protocol is JSON text' });
      return;
    }
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const parsed = parseMessage(buf, 'gateway');
    if (!parsed.ok) {
      this.#invalid(parsed.error);
      return;
    }
    const message = parsed.message;
    try {
      if (message.type === 'ping') this.send(message.id !== undefined ? { type: 'pong', id: message.id } : { type: 'pong' });
      else if (message.type !== 'pong') this.#o.events.message(message);
    } catch (err) {
      // A bug of ours while handling a valid message must not kill the daemon; the channel restarts.
      this.#o.logger.error({ err, type: message.type }, 'sync channel: failed to handle a message; reconnecting');
      this.#o.events.problem(`internal error handling ${message.type}: ${truncate((err as Error).message, 200)}`);
      this.#ws.terminate();
    }
  }

  #invalid(error: ProtocolError): void {
    this.#badMessages++;
    this.#o.logger.warn({ url: this.url, kind: error.kind, type: error.type, reason: error.message }, 'sync channel: ignored an invalid message from the gateway');
    this.#o.events.invalid(error);
    if (this.#badMessages >= MAX_BAD_MESSAGES) {
      this.#o.events.problem(`the gateway sent ${this.#badMessages} invalid messages (last: ${truncate(error.message, 120)})`);
      this.#ws.close(CLOSE_CODES.badMessage.code, 'too many invalid messages');
    }
  }

  #onClose(code: number, reason: string): void {
    if (this.#ended) return;
    this.#finish();
    const status = this.#httpStatus;
    const revoked = code === CLOSE_CODES.unauthorized.code || code === CLOSE_CODES.revoked.code || status === 401 || status === 403;
    let why: string;
    if (revoked) {
      const how = status !== undefined ? `HTTP ${status}` : `close code ${code}${reason ? ` (${truncate(reason, 120)})` : ''}`;
      this.#o.logger.warn({ url: this.url, code, http_status: status }, 'sync channel: the gateway refused this device; not reconnecting until the next login');
      why = `device revoked or its token is no longer valid (${how}): ${REVOKED_HINT}`;
    } else if (status !== undefined) why = `the gateway answered the websocket upgrade with HTTP ${status}`;
    else if (!this.#opened) why = this.#error ?? 'could not connect';
    else why = `connection closed (code ${code}${reason ? `: ${truncate(reason, 120)}` : ''})`;
    this.#o.events.ended({ reason: why, revoked, opened: this.#opened, httpStatus: status, ...(this.#opened ? { closeCode: code } : {}) });
  }

  #finish(): void {
    this.#ended = true;
    this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
