// The sync client: one websocket to the control plane, run as stages over it (as Santa's sync runs
// preflight, upload and download, and Tailscale's control client splits its loop from its
// connection). This file is the conductor: it holds the channel's state, dials a Connection
// (connection.ts) and re-dials after backoff (reconnect.ts), and routes each message to its stage:
// policy (policy-channel.ts), acks and the outbox (outbox-sender.ts), certificate answers
// (cert-requests.ts). All timing goes through the injected clock.
import type tls from 'node:tls';
import { CLOSE_CODES, CONNECT_PATH, TIMING } from '../../../protocol/index.ts';
import type { AgentMessage, ApprovalRequestMessage, CertMessage, GatewayMessage } from '../../../protocol/index.ts';
import { controlEndpoint, type DeviceFacts } from '../auth/index.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Database } from '../store/index.ts';
import { DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { CertificateRequests } from './cert-requests.ts';
import { Connection, REVOKED_HINT, helloMessage, truncate, type ConnectionEnd } from './connection.ts';
import type { Outbox } from './outbox.ts';
import { OutboxSender } from './outbox-sender.ts';
import { PolicyChannel, type PolicyRoom } from './policy-channel.ts';
import { Reconnect } from './reconnect.ts';
import type { SyncState, SyncStatus } from './status.ts';

/** What the sync client needs from the auth room (its `Credentials` class fits). */
export interface SyncCredentials {
  enrollment(): { deviceToken: string; controlUrl: string; connectUrl: string | undefined } | undefined;
  revokedAt(): string | undefined;
  /** Forget `deviceToken` (the one this connection used) after the gateway refused it. */
  markRevoked(deviceToken: string): void;
  signedInUsers(): { osUser: string; userId: string | undefined }[];
}

/** Short-lived device tokens renewed with a signed challenge (the auth room's DeviceTokens fits). */
export interface SyncDeviceTokens {
  /** A token with time left, renewed when needed or when `force`; throws an error with `code: 'rejected'` when the gateway refuses the device. */
  fresh(options?: { force?: boolean }): Promise<string | undefined>;
}

export interface SyncClientOptions {
  /** The configured control_url, read at every connect (managed config is applied live). */
  controlUrl: () => string | undefined;
  credentials: SyncCredentials;
  /** Renews the device token before each dial; without it the stored token is used as it is. */
  tokens?: SyncDeviceTokens;
  outbox: Outbox;
  /** The store's database, for the sync room's own state (when the policy was last confirmed). */
  db: Database;
  deviceFacts: () => DeviceFacts;
  /** The policy room: applies snapshots and owns the version in force (PolicyEngine fits). */
  policy: PolicyRoom;
  logger: Logger;
  /** Time for backoff, resync, batching delay and timeouts; tests pass a ManualClock. */
  clock?: Clock;
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
}

type Handlers = { [K in GatewayMessage['type']]: (conn: Connection, message: Extract<GatewayMessage, { type: K }>) => void };

export class SyncClient {
  readonly #o: SyncClientOptions;
  readonly #clock: Clock;
  readonly #reconnect: Reconnect;
  readonly #policy: PolicyChannel;
  readonly #sender: OutboxSender;
  readonly #certs: CertificateRequests;
  #state: SyncState = 'stopped';
  #since: number;
  #lastError: string | null = null;
  #conn: Connection | undefined;
  #running = false;
  /** Counts dials, so a token renewal that finishes after a newer dial (or a stop) is dropped. */
  #attempt = 0;
  /** The token the gateway refused with 401: the next dial renews before using it. */
  #refusedToken: string | undefined;
  /** The window the connected gateway stated for reconnecting after a drain (`settings.drain_reconnect_s`). */
  #drainWindowMs: number = TIMING.drainReconnectS * 1000;
  #unsubscribe: (() => void) | undefined;
  readonly #stateListeners = new Set<(status: SyncStatus) => void>();

  // Which stage each message goes to; ping and pong are the connection's own.
  readonly #handlers: Handlers = {
    settings: (conn, m) => {
      conn.setHeartbeat(m.heartbeat_s);
      this.#sender.limits(m);
      this.#drainWindowMs = (m.drain_reconnect_s ?? TIMING.drainReconnectS) * 1000;
    },
    ack: (conn, m) => {
      this.#sender.ack(m);
      // Connected means usable: listeners (approval requests, gateway-CA leaves) may send at once,
      // which needs the first ack after hello.
      this.#onConnected(conn);
    },
    policy: (conn, m) => {
      this.#onConnected(conn);
      this.#policy.offer(m.snapshot);
    },
    cert: (_conn, m) => this.#certs.answer(m),
    error: (conn, m) => {
      this.#lastError = `the gateway reported ${m.code}: ${truncate(m.message, 200)}`;
      this.#o.logger.warn({ url: conn.url, code: m.code, reason: truncate(m.message, 200) }, 'sync channel: gateway reported an error');
    },
    // Not an end of the connection: the gateway acknowledged the seq, so the outbox moves on and
    // nothing is resent. Status shows the budget until the next problem or reconnect.
    over_budget: (conn, m) => {
      this.#lastError = `the gateway refused a message over this device's ${m.budget} budget (${m.got} > ${m.limit}): ${truncate(m.message, 200)}`;
      this.#o.logger.warn({ url: conn.url, budget: m.budget, limit: m.limit, got: m.got, seq: m.seq }, 'sync channel: message over the device budget; the gateway dropped it');
    },
    ping: () => undefined,
    pong: () => undefined,
  };

  constructor(options: SyncClientOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#since = this.#clock.now();
    const rng = options.rng ?? Math.random;
    this.#reconnect = new Reconnect({ clock: this.#clock, rng, backoff: { ...DEFAULT_BACKOFF, ...options.backoff }, stableAfterMs: options.stableAfterMs ?? 10_000 });
    this.#policy = new PolicyChannel({
      policy: options.policy,
      outbox: options.outbox,
      db: options.db,
      clock: this.#clock,
      rng,
      logger: options.logger,
      ...(options.fullResyncMs !== undefined ? { fullResyncMs: options.fullResyncMs } : {}),
    });
    this.#sender = new OutboxSender({
      outbox: options.outbox,
      clock: this.#clock,
      logger: options.logger,
      ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.flushDelayMs !== undefined ? { flushDelayMs: options.flushDelayMs } : {}),
    });
    this.#certs = new CertificateRequests({ send: (m) => this.#sendIfConnected(m), channelState: () => this.#state, clock: this.#clock, logger: options.logger });
  }

  // ---- public verbs ----------------------------------------------------------------------------

  /** Starts connecting (or waits for enrollment); returns at once. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#unsubscribe = this.#o.outbox.onEnqueued(() => this.#sender.rowsAdded());
    this.#connect();
  }

  /** Closes the channel and stops reconnecting; resolves when the socket is closed (at most ~2 s). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#unsubscribe?.();
    this.#reconnect.cancel();
    this.#certs.failAll('the sync channel stopped');
    const conn = this.#conn;
    this.#setState('stopped');
    if (conn && !conn.ended) await conn.close(1000, 'agent stopping');
    await this.#policy.settled();
  }

  /**
   * Credentials or configuration changed (a login, a new control_url): reconnect now, with the backoff
   * reset, from any state but `stopped`.
   */
  wake(): void {
    if (!this.#running) return;
    this.#reconnect.reset();
    const conn = this.#conn;
    if (conn && !conn.ended) {
      conn.abandon();
      this.#lost(conn, 'reconnecting with new credentials');
    }
    this.#connect();
  }

  status(): SyncStatus {
    const depth = this.#o.outbox.depth();
    const dueAt = this.#reconnect.dueAt;
    return {
      state: this.#state,
      since: new Date(this.#since).toISOString(),
      last_error: this.#lastError,
      policy_version: this.#policy.version(),
      policy_age_s: this.#policy.ageSeconds(),
      outbox_depth: depth.rows,
      outbox_bytes: depth.bytes,
      next_retry_at: this.#state === 'backoff' && dueAt !== null ? new Date(dueAt).toISOString() : null,
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
  requestCertificate(csrPem: string, hosts: string[], timeoutMs?: number): Promise<CertMessage> {
    return this.#certs.request(csrPem, hosts, timeoutMs);
  }

  // ---- state -----------------------------------------------------------------------------------

  #setState(state: SyncState, error?: string): void {
    if (error !== undefined) this.#lastError = error;
    if (state === this.#state) return;
    this.#state = state;
    this.#since = this.#clock.now();
    const status = this.status();
    for (const listener of this.#stateListeners) {
      try {
        listener(status);
      } catch (err) {
        this.#o.logger.error({ err }, 'sync state listener threw');
      }
    }
  }

  #retryLater(): void {
    if (!this.#running) return;
    const delay = this.#reconnect.schedule(() => this.#connect());
    this.#setState('backoff');
    this.#o.logger.debug({ attempt: this.#reconnect.attempt, delay_ms: delay }, 'sync channel: reconnecting after backoff');
  }

  #sendIfConnected(message: AgentMessage): boolean {
    const conn = this.#conn;
    if (!conn || !this.#sender.synced) return false;
    return conn.send(message);
  }

  // ---- the connection --------------------------------------------------------------------------

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
      else this.#setState('not_enrolled', 'this device is not enrolled: run `heimdall login`');
      return;
    }
    let url: string;
    try {
      url = this.#connectUrl(enrollment);
    } catch (err) {
      this.#setState('connecting', (err as Error).message);
      this.#retryLater();
      return;
    }
    this.#setState('connecting');
    const tokens = this.#o.tokens;
    if (!tokens) return this.#dial(url, enrollment.deviceToken);
    const attempt = ++this.#attempt;
    const force = this.#refusedToken !== undefined && this.#refusedToken === enrollment.deviceToken;
    tokens.fresh({ force }).then(
      (token) => {
        if (!this.#running || attempt !== this.#attempt) return;
        this.#dial(url, token ?? enrollment.deviceToken);
      },
      (err: unknown) => {
        if (!this.#running || attempt !== this.#attempt) return;
        const reason = truncate((err as Error).message, 300);
        if ((err as { code?: unknown }).code === 'rejected') {
          // The gateway refused the device key itself (revoked, reset, unknown): only a login helps.
          this.#o.credentials.markRevoked(enrollment.deviceToken);
          this.#setState('revoked', `${reason}: ${REVOKED_HINT}`);
          return;
        }
        this.#lastError = `cannot renew the device token: ${reason}`;
        this.#retryLater();
      },
    );
  }

  #dial(url: string, deviceToken: string): void {
    ++this.#attempt;
    let conn: Connection;
    try {
      conn = new Connection({
        url,
        deviceToken,
        hello: () => this.#hello(),
        clock: this.#clock,
        logger: this.#o.logger,
        handshakeTimeoutMs: this.#o.handshakeTimeoutMs ?? 15_000,
        ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : {}),
        ...(this.#o.secureContext !== undefined ? { secureContext: this.#o.secureContext } : {}),
        events: {
          message: (m) => this.#route(conn, m),
          invalid: (error) => {
            if (error.type === 'policy') this.#policy.invalid(error.message);
          },
          problem: (text) => {
            this.#lastError = text;
          },
          ended: (end) => this.#onEnded(conn, end),
        },
      });
    } catch (err) {
      this.#lastError = `cannot open the sync channel to ${url}: ${truncate((err as Error).message, 200)}`;
      this.#retryLater();
      return;
    }
    this.#conn = conn;
    this.#sender.attach(conn);
  }

  #hello(): ReturnType<typeof helloMessage>['hello'] {
    const { hello, problem } = helloMessage({
      facts: this.#o.deviceFacts(),
      users: this.#o.credentials.signedInUsers(),
      policyVersion: this.#policy.version(),
      outboxStream: this.#o.outbox.stream,
      outboxFirstSeq: this.#o.outbox.firstSeq(),
    });
    if (problem) {
      this.#lastError = problem;
      this.#o.logger.error({ reason: problem }, 'sync channel: hello fails the protocol');
    }
    return hello;
  }

  #route(conn: Connection, message: GatewayMessage): void {
    if (conn !== this.#conn) return;
    (this.#handlers[message.type] as (conn: Connection, m: GatewayMessage) => void)(conn, message);
  }

  #onConnected(conn: Connection): void {
    if (this.#state === 'connected') return;
    this.#lastError = null;
    this.#setState('connected');
    this.#o.logger.info({ url: conn.url }, 'sync channel connected');
    this.#reconnect.connected();
    this.#policy.attach(conn);
  }

  #onEnded(conn: Connection, end: ConnectionEnd): void {
    if (this.#conn !== conn) return;
    // A 401 at the upgrade is an expired or replaced token: renew it (a signed challenge) once before
    // concluding anything; a 403, a close code, or a 401 right after a renewal is the gateway's refusal.
    if (end.revoked && end.httpStatus === 401 && this.#o.tokens && this.#refusedToken !== conn.deviceToken) {
      this.#refusedToken = conn.deviceToken;
      this.#lost(conn, end.reason);
      this.#retryLater();
      return;
    }
    if (end.revoked) this.#o.credentials.markRevoked(conn.deviceToken);
    this.#lost(conn, end.reason);
    if (!this.#running) return;
    if (end.revoked) {
      this.#setState('revoked', end.reason);
      return;
    }
    if (end.closeCode === CLOSE_CODES.draining.code) return this.#retryAfterDrain(conn);
    if (end.opened) this.#o.logger.info({ url: conn.url, reason: end.reason }, 'sync channel lost');
    this.#retryLater();
  }

  /**
   * The gateway replica is draining: reconnect (through the load balancer, to another replica) after
   * a random delay within the window it stated, not at once and not with the rest of its fleet. The
   * outbox keeps everything not yet acknowledged; the next replica's `ack` after hello says what it has.
   */
  #retryAfterDrain(conn: Connection): void {
    const delay = this.#reconnect.scheduleWithin(this.#drainWindowMs, () => this.#connect());
    this.#setState('backoff');
    this.#o.logger.info({ url: conn.url, delay_ms: delay, window_ms: this.#drainWindowMs }, 'sync channel: the gateway replica is draining; reconnecting after a random delay within its window');
  }

  /** The stages let go of `conn`; `reason` becomes the last error while the client is running. */
  #lost(conn: Connection, reason: string): void {
    if (this.#conn === conn) this.#conn = undefined;
    this.#sender.detach();
    this.#policy.detach();
    this.#reconnect.cancel();
    if (this.#running) this.#lastError = reason;
  }
}

