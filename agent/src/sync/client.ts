// The sync client: one websocket to the control plane. Sends `hello`, applies policy snapshots through
// the policy room (never an older version, never an invalid one), drains the outbox in order and
// deletes what the gateway acknowledges, resyncs periodically, and reconnects with full-jitter backoff.
// Everything received is treated as hostile until it passes the protocol's schema.
import WebSocket from 'ws';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type tls from 'node:tls';
import {
  CLOSE_CODES,
  CONNECT_PATH,
  LIMITS,
  SUBPROTOCOL,
  TIMING,
  encodeMessage,
  eventSchema,
  helloSchema,
  inventoryAppsSchema,
  inventoryMcpSchema,
  parseMessage,
} from '../../../protocol/index.ts';
import type {
  AckMessage,
  AgentMessage,
  ApprovalRequestMessage,
  CertMessage,
  EventsMessage,
  GatewayMessage,
  HelloMessage,
  PolicySnapshot,
  ProtocolError,
  SettingsMessage,
} from '../../../protocol/index.ts';
import { controlEndpoint, type DeviceFacts } from '../auth/index.ts';
import type { Logger } from '../lib/logger.ts';
import type { Database } from '../store/index.ts';
import { computeBackoff, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import type { Outbox, OutboxEntry } from './outbox.ts';
import { PolicyState, policyDigest, type KnownPolicy } from './policy-state.ts';

export type SyncState = 'not_enrolled' | 'connecting' | 'connected' | 'backoff' | 'revoked' | 'stopped';

export interface SyncStatus {
  state: SyncState;
  /** When the state last changed (ISO 8601). */
  since: string;
  /** The last thing that went wrong, in words for a person; null when nothing has. */
  last_error: string | null;
  /** Version of the last good policy; null when none was ever applied. */
  policy_version: number | null;
  /** Seconds since the gateway last sent (or re-confirmed) that policy; null when none. */
  policy_age_s: number | null;
  /** Rows waiting for the gateway's ack. */
  outbox_depth: number;
  outbox_bytes: number;
  /** When the next reconnect attempt is due (state `backoff`), ISO 8601. */
  next_retry_at: string | null;
}

export type ApplyPolicyResult = { ok: true } | { ok: false; error: string };
/** The policy room's door: validates the snapshot and stores it atomically, or says why not. */
export type ApplyPolicy = (snapshot: PolicySnapshot) => ApplyPolicyResult | Promise<ApplyPolicyResult>;

/** What the sync client needs from the auth room (its `Credentials` class fits). */
export interface SyncCredentials {
  enrollment(): { deviceToken: string; controlUrl: string; connectUrl: string | undefined } | undefined;
  revokedAt(): string | undefined;
  /** Forget `deviceToken` (the one this connection used) after the gateway refused it. */
  markRevoked(deviceToken: string): void;
  signedInUsers(): { osUser: string; userId: string | undefined }[];
}

export interface SyncClientOptions {
  /** The configured control_url, read at every connect (managed config is applied live). */
  controlUrl: () => string | undefined;
  credentials: SyncCredentials;
  outbox: Outbox;
  /** The store's database, for the sync room's own state (policy version). */
  db: Database;
  deviceFacts: () => DeviceFacts;
  applyPolicy: ApplyPolicy;
  logger: Logger;
  backoff?: Partial<BackoffPolicy>;
  /** [0, 1) like Math.random; tests pass a seeded one. */
  rng?: () => number;
  /** A connection that lasted this long resets the backoff (default 10 s). */
  stableAfterMs?: number;
  /** Opening handshake deadline (default 15 s). */
  handshakeTimeoutMs?: number;
  /** Outbox messages sent and not yet acknowledged (default 8). */
  maxInFlight?: number;
  /** How long new outbox rows wait to be sent with the ones after them (default 50 ms). */
  flushDelayMs?: number;
  /** Extra CA (PEM) for a gateway behind an internal PKI. */
  ca?: string;
  /** The roots to trust for a wss control plane when `ca` is not given (the daemon's bundled + OS store context). */
  secureContext?: tls.SecureContext;
  /** Accept ws:// to a non-loopback host (development only). */
  allowInsecure?: boolean;
  /** Resync period override (tests, development); otherwise the policy's settings.full_resync_s. */
  fullResyncMs?: number;
  /**
   * The version the policy room holds right now (PolicyEngine.version). When given, it is what `hello`
   * reports, and an unchanged re-send is skipped only if the policy room really holds that version
   * (so a policy cache lost on its side is refilled from the next snapshot).
   */
  heldPolicyVersion?: () => number | null;
}

interface Connection {
  ws: WebSocket;
  url: string;
  token: string;
  opened: boolean;
  ended: boolean;
  /** Set by a non-101 answer to the upgrade. */
  httpStatus?: number;
  /** The first ack after hello arrived: the gateway told us where it stands, sending may start. */
  synced: boolean;
  /** Highest seq sent on this connection. */
  cursor: number;
  /** Last seq of each outbox message sent and not yet acknowledged, in order. */
  inFlight: number[];
  lastAck: number;
  lastHeardAt: number;
  maxMessageBytes: number;
  maxEventsPerBatch: number;
  heartbeatMs: number;
  badMessages: number;
  timers: NodeJS.Timeout[];
  resyncTimer?: NodeJS.Timeout;
  flushScheduled: boolean;
}

interface PendingCert {
  resolve: (m: CertMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class SyncError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncError';
  }
}

const REVOKED_HINT = 'run `heimdall login --virtual-key` to enroll this device again';
// A gateway that keeps sending garbage is closed after this many bad messages on one connection.
const MAX_BAD_MESSAGES = 20;
const DEFAULT_FLUSH_DELAY_MS = 50;
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const BATCH_ENVELOPE_BYTES = 128;
const PER_EVENT_SEQ_BYTES = 24;

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

export class SyncClient {
  readonly #o: SyncClientOptions;
  readonly #backoff: BackoffPolicy;
  readonly #rng: () => number;
  readonly #policyState: PolicyState;
  #known: KnownPolicy | undefined;
  #state: SyncState = 'stopped';
  #since = new Date().toISOString();
  #lastError: string | null = null;
  #nextRetryAt: number | null = null;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #conn: Connection | undefined;
  #running = false;
  #policyChain: Promise<void> = Promise.resolve();
  /** The newest snapshot waiting while another is being applied (a flood of pushes coalesces to one). */
  #nextPolicy: { conn: Connection; snapshot: PolicySnapshot } | undefined;
  #applying = false;
  #unsubscribe: (() => void) | undefined;
  #requestCounter = 0;
  readonly #pendingCerts = new Map<string, PendingCert>();
  readonly #stateListeners = new Set<(status: SyncStatus) => void>();

  constructor(options: SyncClientOptions) {
    this.#o = options;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.#rng = options.rng ?? Math.random;
    this.#policyState = new PolicyState(options.db);
    this.#known = this.#policyState.load();
  }

  // ---- public verbs ----------------------------------------------------------------------------

  /** Starts connecting (or waits for enrollment); returns at once. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#o.outbox.onEnqueued(() => this.#scheduleFlush());
    this.#connect();
  }

  /** Closes the channel and stops reconnecting; resolves when the socket is closed (at most ~2 s). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#unsubscribe?.();
    this.#clearRetry();
    for (const [id, pending] of this.#pendingCerts) {
      clearTimeout(pending.timer);
      pending.reject(new SyncError('the sync channel stopped'));
      this.#pendingCerts.delete(id);
    }
    const conn = this.#conn;
    this.#setState('stopped');
    if (conn && !conn.ended) {
      await new Promise<void>((resolve) => {
        const done = setTimeout(() => {
          conn.ws.terminate();
          resolve();
        }, 2000);
        conn.ws.once('close', () => {
          clearTimeout(done);
          resolve();
        });
        if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close(1000, 'agent stopping');
        else conn.ws.terminate();
      });
    }
    await this.#policyChain;
  }

  /**
   * Credentials or configuration changed (a login, a new control_url): reconnect now, with the backoff
   * reset, from any state but `stopped`.
   */
  wake(): void {
    if (!this.#running) return;
    this.#clearRetry();
    this.#attempt = 0;
    const conn = this.#conn;
    if (conn && !conn.ended) {
      this.#endConnection(conn, { reason: 'reconnecting with new credentials', reconnectNow: true });
      conn.ws.terminate();
      return;
    }
    this.#connect();
  }

  status(): SyncStatus {
    const depth = this.#o.outbox.depth();
    return {
      state: this.#state,
      since: this.#since,
      last_error: this.#lastError,
      policy_version: this.#known?.version ?? null,
      policy_age_s: this.#known ? Math.max(0, Math.round((Date.now() - Date.parse(this.#known.confirmedAt)) / 1000)) : null,
      outbox_depth: depth.rows,
      outbox_bytes: depth.bytes,
      next_retry_at: this.#state === 'backoff' && this.#nextRetryAt !== null ? new Date(this.#nextRetryAt).toISOString() : null,
    };
  }

  /** Called on every state change (for metrics and tests). Returns an unsubscribe. */
  onStateChange(listener: (status: SyncStatus) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /**
   * Sends an approval request now; false when the channel is not connected (the caller retries later —
   * approval requests are re-derived from pending apps, so they are not queued in the outbox).
   */
  sendApprovalRequest(message: ApprovalRequestMessage): boolean {
    return this.#sendIfConnected(message);
  }

  /** Asks the gateway-held CA for a leaf (ca_mode gateway). Rejects when disconnected or after `timeoutMs`. */
  requestCertificate(csrPem: string, hosts: string[], timeoutMs = 15_000): Promise<CertMessage> {
    const id = `cert-${Date.now().toString(36)}-${(++this.#requestCounter).toString(36)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pendingCerts.delete(id);
        reject(new SyncError(`the gateway did not answer the certificate request within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pendingCerts.set(id, { resolve, reject, timer });
      if (!this.#sendIfConnected({ type: 'cert.sign', id, csr_pem: csrPem, hosts })) {
        clearTimeout(timer);
        this.#pendingCerts.delete(id);
        reject(new SyncError(`cannot request a certificate: the sync channel is ${this.#state}`));
      }
    });
  }

  // ---- state -----------------------------------------------------------------------------------

  #setState(state: SyncState, error?: string): void {
    if (error !== undefined) this.#lastError = error;
    if (state === this.#state) return;
    this.#state = state;
    this.#since = new Date().toISOString();
    const status = this.status();
    for (const listener of this.#stateListeners) {
      try {
        listener(status);
      } catch (err) {
        this.#o.logger.error({ err }, 'sync state listener threw');
      }
    }
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#nextRetryAt = null;
  }

  #scheduleRetry(): void {
    if (!this.#running) return;
    const delay = computeBackoff(this.#attempt, this.#rng, this.#backoff);
    this.#attempt++;
    this.#nextRetryAt = Date.now() + delay;
    this.#setState('backoff');
    this.#o.logger.debug({ attempt: this.#attempt, delay_ms: delay }, 'sync channel: reconnecting after backoff');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#nextRetryAt = null;
      this.#connect();
    }, delay);
    this.#retryTimer.unref?.();
  }

  // ---- connection ------------------------------------------------------------------------------

  #connectUrl(enrollment: { controlUrl: string; connectUrl: string | undefined }): string {
    const configured = this.#o.controlUrl();
    const allowInsecure = this.#o.allowInsecure ?? false;
    // The URL the gateway named at enrollment holds while control_url still names that gateway.
    if (enrollment.connectUrl && (configured === undefined || configured === enrollment.controlUrl)) return enrollment.connectUrl;
    return controlEndpoint(configured ?? enrollment.controlUrl, CONNECT_PATH, { websocket: true, allowInsecure }).href;
  }

  #connect(): void {
    if (!this.#running) return;
    const enrollment = this.#o.credentials.enrollment();
    if (!enrollment) {
      const revokedAt = this.#o.credentials.revokedAt();
      if (revokedAt) this.#setState('revoked', this.#lastError ?? `device revoked by the gateway at ${revokedAt}: ${REVOKED_HINT}`);
      else this.#setState('not_enrolled', 'this device is not enrolled: run `heimdall login --virtual-key`');
      return;
    }
    let url: string;
    try {
      url = this.#connectUrl(enrollment);
    } catch (err) {
      this.#setState('connecting', (err as Error).message);
      this.#scheduleRetry();
      return;
    }
    this.#setState('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, [SUBPROTOCOL], {
        headers: { authorization: `Bearer ${enrollment.deviceToken}` },
        handshakeTimeout: this.#o.handshakeTimeoutMs ?? 15_000,
        maxPayload: LIMITS.maxGatewayMessageBytes,
        followRedirects: false,
        ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : this.#o.secureContext ? { secureContext: this.#o.secureContext } : {}),
      });
    } catch (err) {
      this.#lastError = `cannot open the sync channel to ${url}: ${truncate((err as Error).message, 200)}`;
      this.#scheduleRetry();
      return;
    }
    const conn: Connection = {
      ws,
      url,
      token: enrollment.deviceToken,
      opened: false,
      ended: false,
      synced: false,
      cursor: 0,
      inFlight: [],
      lastAck: 0,
      lastHeardAt: Date.now(),
      maxMessageBytes: LIMITS.maxAgentMessageBytes,
      maxEventsPerBatch: LIMITS.maxEventsPerBatch,
      heartbeatMs: TIMING.heartbeatS * 1000,
      badMessages: 0,
      timers: [],
      flushScheduled: false,
    };
    this.#conn = conn;

    ws.on('unexpected-response', (_req: ClientRequest, res: IncomingMessage) => {
      conn.httpStatus = res.statusCode;
      res.resume();
      ws.terminate();
    });
    ws.on('open', () => this.#onOpen(conn));
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => this.#onRaw(conn, data, isBinary));
    ws.on('ping', () => {
      conn.lastHeardAt = Date.now();
    });
    ws.on('pong', () => {
      conn.lastHeardAt = Date.now();
    });
    ws.on('error', (err: Error) => {
      // Handshake and transport errors; 'close' follows and decides what to do.
      if (!conn.ended) this.#lastError = `sync channel ${url}: ${truncate(err.message, 200)}`;
    });
    ws.on('close', (code: number, reason: Buffer) => this.#onClose(conn, code, reason.toString('utf8')));
  }

  #onOpen(conn: Connection): void {
    if (conn.ended) return;
    conn.opened = true;
    conn.lastHeardAt = Date.now();
    const facts = this.#o.deviceFacts();
    const hello: HelloMessage = {
      type: 'hello',
      device_id: facts.deviceId,
      hostname: facts.hostname,
      os: facts.os,
      os_version: facts.osVersion,
      arch: facts.arch,
      agent_version: facts.agentVersion,
      users: this.#o.credentials
        .signedInUsers()
        .slice(0, LIMITS.maxUsers)
        .map((u) => (u.userId !== undefined ? { os_user: u.osUser, user_id: u.userId } : { os_user: u.osUser })),
      policy_version: this.#heldVersion(),
      outbox_stream: this.#o.outbox.stream,
      outbox_first_seq: this.#o.outbox.firstSeq(),
    };
    const checked = helloSchema.safeParse(hello);
    if (!checked.success) {
      // Our bug or an odd machine; the gateway would refuse it with 4400, so say exactly what is wrong.
      const issue = checked.error.issues[0];
      this.#lastError = `this device's hello fails the protocol at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`;
      this.#o.logger.error({ path: issue?.path.join('.'), reason: issue?.message }, 'sync channel: hello fails the protocol');
    }
    this.#send(conn, hello);
    // Liveness: the gateway pings every heartbeat; we ping too, and a peer silent for two heartbeats
    // (a half-open TCP connection after a network change) is dropped and reconnected.
    const liveness = setInterval(() => {
      if (conn.ended) return;
      if (Date.now() - conn.lastHeardAt > 2 * conn.heartbeatMs + 5000) {
        this.#o.logger.warn({ url: conn.url }, 'sync channel: gateway silent for two heartbeats; reconnecting');
        this.#lastError = 'the gateway stopped answering (no ping or message for two heartbeats)';
        conn.ws.terminate();
        return;
      }
      try {
        conn.ws.ping();
      } catch {
        // closing; 'close' follows
      }
    }, Math.max(1000, Math.floor(conn.heartbeatMs / 2)));
    liveness.unref?.();
    conn.timers.push(liveness);
  }

  #onConnected(conn: Connection): void {
    if (this.#state === 'connected') return;
    this.#lastError = null;
    this.#setState('connected');
    this.#o.logger.info({ url: conn.url }, 'sync channel connected');
    // The backoff resets only after the connection proved stable, so a gateway that accepts and then
    // drops every connection still sees growing delays.
    const stable = setTimeout(() => {
      if (!conn.ended) this.#attempt = 0;
    }, this.#o.stableAfterMs ?? 10_000);
    stable.unref?.();
    conn.timers.push(stable);
    this.#scheduleResync(conn);
  }

  #onClose(conn: Connection, code: number, reason: string): void {
    if (conn.ended) return;
    const status = conn.httpStatus;
    const revoked = code === CLOSE_CODES.unauthorized.code || code === CLOSE_CODES.revoked.code || status === 401 || status === 403;
    if (revoked) {
      const how = status !== undefined ? `HTTP ${status}` : `close code ${code}${reason ? ` (${truncate(reason, 120)})` : ''}`;
      this.#o.logger.warn({ url: conn.url, code, http_status: status }, 'sync channel: the gateway refused this device; not reconnecting until the next login');
      this.#o.credentials.markRevoked(conn.token);
      this.#endConnection(conn, { reason: `device revoked or its token is no longer valid (${how}): ${REVOKED_HINT}`, revoked: true });
      return;
    }
    let why: string;
    if (status !== undefined) why = `the gateway answered the websocket upgrade with HTTP ${status}`;
    else if (!conn.opened) why = this.#lastError ?? 'could not connect';
    else why = `connection closed (code ${code}${reason ? `: ${truncate(reason, 120)}` : ''})`;
    this.#endConnection(conn, { reason: why });
  }

  #endConnection(conn: Connection, how: { reason: string; revoked?: boolean; reconnectNow?: boolean }): void {
    if (conn.ended) return;
    conn.ended = true;
    for (const t of conn.timers) clearTimeout(t);
    if (conn.resyncTimer) clearTimeout(conn.resyncTimer);
    if (this.#conn === conn) this.#conn = undefined;
    if (!this.#running) return;
    if (how.revoked) {
      this.#setState('revoked', how.reason);
      return;
    }
    if (conn.opened) this.#o.logger.info({ url: conn.url, reason: how.reason }, 'sync channel lost');
    this.#lastError = how.reason;
    if (how.reconnectNow) {
      this.#connect();
      return;
    }
    this.#scheduleRetry();
  }

  // ---- receiving -------------------------------------------------------------------------------

  #onRaw(conn: Connection, data: WebSocket.RawData, isBinary: boolean): void {
    if (conn.ended) return;
    conn.lastHeardAt = Date.now();
    if (isBinary) {
      this.#badMessage(conn, { kind: 'invalid', closeCode: CLOSE_CODES.badMessage.code, message: 'binary frame; the protocol is JSON text' });
      return;
    }
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const parsed = parseMessage(buf, 'gateway');
    if (!parsed.ok) {
      this.#badMessage(conn, parsed.error);
      return;
    }
    try {
      this.#onMessage(conn, parsed.message);
    } catch (err) {
      // A bug of ours while handling a valid message must not kill the daemon; the channel restarts.
      this.#o.logger.error({ err, type: parsed.message.type }, 'sync channel: failed to handle a message; reconnecting');
      this.#lastError = `internal error handling ${parsed.message.type}: ${truncate((err as Error).message, 200)}`;
      conn.ws.terminate();
    }
  }

  #badMessage(conn: Connection, error: ProtocolError): void {
    conn.badMessages++;
    this.#o.logger.warn({ url: conn.url, kind: error.kind, type: error.type, reason: error.message }, 'sync channel: ignored an invalid message from the gateway');
    if (error.type === 'policy') this.#reportRejectedPolicy(null, `policy message failed the protocol: ${error.message}`);
    if (conn.badMessages >= MAX_BAD_MESSAGES) {
      this.#lastError = `the gateway sent ${conn.badMessages} invalid messages (last: ${truncate(error.message, 120)})`;
      conn.ws.close(CLOSE_CODES.badMessage.code, 'too many invalid messages');
    }
  }

  #onMessage(conn: Connection, message: GatewayMessage): void {
    switch (message.type) {
      case 'settings':
        this.#onSettings(conn, message);
        return;
      case 'ack':
        // Connected means usable: listeners (approval requests, gateway-CA leaves) may send at once,
        // which needs the first ack after hello (`synced`).
        this.#onAck(conn, message);
        this.#onConnected(conn);
        return;
      case 'policy': {
        this.#onConnected(conn);
        this.#queuePolicy(conn, message.snapshot);
        return;
      }
      case 'ping':
        this.#send(conn, message.id !== undefined ? { type: 'pong', id: message.id } : { type: 'pong' });
        return;
      case 'pong':
        return;
      case 'cert': {
        const pending = this.#pendingCerts.get(message.id);
        if (!pending) {
          this.#o.logger.debug({ id: message.id }, 'sync channel: certificate answer for no pending request; ignored');
          return;
        }
        clearTimeout(pending.timer);
        this.#pendingCerts.delete(message.id);
        pending.resolve(message);
        return;
      }
      case 'error':
        this.#lastError = `the gateway reported ${message.code}: ${truncate(message.message, 200)}`;
        this.#o.logger.warn({ url: conn.url, code: message.code, reason: truncate(message.message, 200) }, 'sync channel: gateway reported an error');
        return;
      default: {
        const unreachable: never = message;
        return unreachable;
      }
    }
  }

  #onSettings(conn: Connection, settings: SettingsMessage): void {
    conn.maxMessageBytes = Math.min(settings.max_message_bytes, LIMITS.maxAgentMessageBytes);
    conn.maxEventsPerBatch = Math.min(settings.max_events_per_batch, LIMITS.maxEventsPerBatch);
    // Bounded: a hostile heartbeat of 1 s must not become a ping storm, nor a huge one a dead detector.
    conn.heartbeatMs = Math.min(Math.max(settings.heartbeat_s, 5), 600) * 1000;
  }

  #onAck(conn: Connection, ack: AckMessage): void {
    const outbox = this.#o.outbox;
    if (ack.outbox_stream !== outbox.stream) {
      this.#o.logger.warn({ url: conn.url }, 'sync channel: ack for another outbox stream; ignored');
      return;
    }
    if (ack.seq > outbox.lastAssignedSeq()) {
      this.#o.logger.warn({ url: conn.url, seq: ack.seq, last_assigned: outbox.lastAssignedSeq() }, 'sync channel: ack beyond any seq this agent assigned; ignored');
      return;
    }
    const first = !conn.synced;
    conn.synced = true;
    if (ack.seq > conn.lastAck || first) {
      conn.lastAck = Math.max(conn.lastAck, ack.seq);
      if (ack.seq > 0) outbox.ack(ack.seq);
      while (conn.inFlight.length > 0 && conn.inFlight[0]! <= ack.seq) conn.inFlight.shift();
      // After hello the gateway may already hold more than we sent on this connection.
      conn.cursor = Math.max(conn.cursor, ack.seq);
    }
    // A replayed or older ack changes nothing (acks are cumulative).
    this.#flush(conn);
  }

  #queuePolicy(conn: Connection, snapshot: PolicySnapshot): void {
    if (this.#nextPolicy && snapshot.version < this.#nextPolicy.snapshot.version) return;
    this.#nextPolicy = { conn, snapshot };
    if (this.#applying) return;
    this.#applying = true;
    this.#policyChain = (async () => {
      try {
        while (this.#nextPolicy) {
          const next = this.#nextPolicy;
          this.#nextPolicy = undefined;
          try {
            await this.#applySnapshot(next.conn, next.snapshot);
          } catch (err) {
            // Storing the version failed (disk full?): the next push or resync tries again.
            this.#o.logger.error({ err, version: next.snapshot.version }, 'sync channel: failed to record an applied policy');
          }
        }
      } finally {
        this.#applying = false;
      }
    })();
  }

  async #applySnapshot(conn: Connection, snapshot: PolicySnapshot): Promise<void> {
    const known = this.#known;
    if (known && snapshot.version < known.version) {
      this.#o.logger.info({ version: snapshot.version, held: known.version }, 'sync channel: ignored a policy older than the one held');
      return;
    }
    const digest = policyDigest(snapshot);
    const now = new Date().toISOString();
    const held = this.#o.heldPolicyVersion ? this.#o.heldPolicyVersion() : known?.version;
    if (known && snapshot.version === known.version && digest === known.digest && held === known.version) {
      this.#known = { ...known, confirmedAt: now };
      this.#policyState.save(this.#known);
      if (!conn.ended) this.#scheduleResync(conn);
      return;
    }
    let result: ApplyPolicyResult;
    try {
      result = await this.#o.applyPolicy(snapshot);
    } catch (err) {
      result = { ok: false, error: `the policy room threw: ${(err as Error).message}` };
    }
    if (!result.ok) {
      this.#o.logger.warn({ version: snapshot.version, reason: truncate(result.error, 300) }, 'sync channel: policy snapshot rejected; keeping the last good policy');
      this.#reportRejectedPolicy(snapshot.version, result.error);
      return;
    }
    this.#known = { version: snapshot.version, digest, appliedAt: now, confirmedAt: now, fullResyncS: snapshot.settings.full_resync_s };
    this.#policyState.save(this.#known);
    // The policy room logs the change at info; this is the channel's view of it.
    this.#o.logger.debug({ version: snapshot.version, previous: known?.version ?? null }, 'policy from the gateway handed to the policy room');
    if (!conn.ended) this.#scheduleResync(conn);
  }

  #heldVersion(): number | null {
    if (this.#o.heldPolicyVersion) return this.#o.heldPolicyVersion();
    return this.#known?.version ?? null;
  }

  #reportRejectedPolicy(version: number | null, reason: string): void {
    try {
      this.#o.outbox.enqueue({
        type: 'policy.rejected',
        at: new Date().toISOString(),
        attrs: { version, reason: truncate(reason, 1000), held_version: this.#known?.version ?? null },
      });
    } catch (err) {
      this.#o.logger.error({ err }, 'could not queue the policy.rejected event');
    }
  }

  #scheduleResync(conn: Connection): void {
    if (conn.resyncTimer) clearTimeout(conn.resyncTimer);
    const periodS = this.#known?.fullResyncS && this.#known.fullResyncS >= 30 ? this.#known.fullResyncS : TIMING.defaultFullResyncS;
    const periodMs = this.#o.fullResyncMs ?? periodS * 1000;
    // ±10 % so a fleet that connected together does not resync together forever.
    const delay = Math.round(periodMs * (0.9 + 0.2 * this.#rng()));
    conn.resyncTimer = setTimeout(() => {
      if (conn.ended) return;
      this.#send(conn, { type: 'resync', policy_version: this.#heldVersion() });
      this.#scheduleResync(conn);
    }, delay);
    conn.resyncTimer.unref?.();
  }

  // ---- sending ---------------------------------------------------------------------------------

  #send(conn: Connection, message: AgentMessage): boolean {
    if (conn.ended || conn.ws.readyState !== WebSocket.OPEN) return false;
    conn.ws.send(encodeMessage(message));
    return true;
  }

  #sendIfConnected(message: AgentMessage): boolean {
    const conn = this.#conn;
    if (!conn || !conn.synced) return false;
    return this.#send(conn, message);
  }

  #scheduleFlush(): void {
    const conn = this.#conn;
    if (!conn || !conn.synced || conn.flushScheduled) return;
    conn.flushScheduled = true;
    // Events are written to the outbox as requests end; sending them a moment later lets a session's
    // requests go out as one batch (one read, one message, one ack) instead of one each, which
    // costs the machine an outbox read, a frame and an ack per request.
    setTimeout(() => {
      conn.flushScheduled = false;
      this.#flush(conn);
    }, this.#o.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS).unref();
  }

  /** Sends outbox rows after the cursor, in seq order, while the in-flight window has room. */
  #flush(conn: Connection): void {
    const window = this.#o.maxInFlight ?? 8;
    while (!conn.ended && conn.synced && conn.inFlight.length < window && conn.ws.bufferedAmount < MAX_BUFFERED_BYTES) {
      const rows = this.#o.outbox.pendingAfter(conn.cursor, conn.maxEventsPerBatch);
      if (rows.length === 0) return;
      const message = this.#nextMessage(conn, rows);
      if (!message) continue; // rows were quarantined; look again
      if (!this.#send(conn, message.body)) return;
      conn.cursor = message.lastSeq;
      conn.inFlight.push(message.lastSeq);
    }
  }

  #nextMessage(conn: Connection, rows: OutboxEntry[]): { body: AgentMessage; lastSeq: number } | undefined {
    const head = rows[0]!;
    if (head.kind !== 'event') {
      const body = { ...(JSON.parse(head.payload) as object), seq: head.seq } as AgentMessage;
      const schema = head.kind === 'inventory.apps' ? inventoryAppsSchema : inventoryMcpSchema;
      if (!schema.safeParse(body).success) {
        this.#o.outbox.quarantine([head.seq], `${head.kind} report fails the protocol`);
        return undefined;
      }
      return { body, lastSeq: head.seq };
    }
    const events: EventsMessage['events'] = [];
    const bad: number[] = [];
    let bytes = BATCH_ENVELOPE_BYTES;
    for (const row of rows) {
      if (row.kind !== 'event') break;
      if (events.length >= conn.maxEventsPerBatch || bytes + row.bytes + PER_EVENT_SEQ_BYTES > conn.maxMessageBytes) break;
      const checked = eventSchema.safeParse({ ...(JSON.parse(row.payload) as object), seq: row.seq });
      if (!checked.success) {
        bad.push(row.seq);
        continue;
      }
      events.push(checked.data);
      bytes += row.bytes + PER_EVENT_SEQ_BYTES;
    }
    if (bad.length > 0) {
      this.#o.outbox.quarantine(bad, 'event fails the protocol');
      return undefined;
    }
    if (events.length === 0) {
      // Cannot happen: every event is at most MAX_EVENT_BYTES, far below any message limit.
      this.#o.outbox.quarantine([head.seq], `event larger than the gateway's message limit of ${conn.maxMessageBytes} bytes`);
      return undefined;
    }
    const last = events[events.length - 1]!;
    return { body: { type: 'events', seq_from: events[0]!.seq, events }, lastSeq: last.seq };
  }
}

function ago(iso: string): string {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** One line for `heimdall status`: connection, policy version and age, outbox depth. */
export function describeSyncStatus(s: SyncStatus): string {
  let connection: string;
  switch (s.state) {
    case 'connected':
      connection = `connected for ${ago(s.since)}`;
      break;
    case 'connecting':
      connection = 'connecting';
      break;
    case 'backoff':
      connection = `gateway unreachable for ${ago(s.since)}, retrying${s.next_retry_at ? ` in ${Math.max(0, Math.round((Date.parse(s.next_retry_at) - Date.now()) / 1000))}s` : ''}`;
      break;
    case 'revoked':
      connection = 'device revoked: run `heimdall login --virtual-key`';
      break;
    case 'not_enrolled':
      connection = 'not enrolled: run `heimdall login --virtual-key`';
      break;
    case 'stopped':
      connection = 'stopped';
      break;
  }
  const policy = s.policy_version === null ? 'no policy yet' : `policy v${s.policy_version} (from the gateway ${s.policy_age_s === null ? '?' : ago(new Date(Date.now() - s.policy_age_s * 1000).toISOString())} ago)`;
  const outbox = s.outbox_depth === 0 ? 'outbox empty' : `${s.outbox_depth} report(s) waiting to upload`;
  const error = s.last_error && s.state !== 'connected' ? `; last error: ${s.last_error}` : '';
  return `${connection}; ${policy}; ${outbox}${error}`;
}

/**
 * The sync room's section of `heimdall status` (fits the daemon's StatusSection): the status fields,
 * a one-line `summary`, and a blocker when the device cannot receive policy at all.
 */
export function syncStatusSection(client: SyncClient): { name: string; collect(): unknown; blockers(): string[] } {
  return {
    name: 'sync',
    collect: () => {
      const s = client.status();
      return { ...s, summary: describeSyncStatus(s) };
    },
    blockers: () => {
      const s = client.status();
      if (s.state === 'revoked') return ['the gateway revoked this device (or its token): run `heimdall login --virtual-key` to enroll it again'];
      if (s.state === 'not_enrolled') return ['this device is not enrolled with the gateway: run `heimdall login --virtual-key`'];
      return [];
    },
  };
}
