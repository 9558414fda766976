// The websocket hub at /edge/v1/connect: authenticates device tokens before the upgrade, keeps one
// connection per device, pushes policy snapshots after admin changes, heartbeats and drops dead peers,
// and keeps this replica's rows of `device_connections` (connected state shared by every replica).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { systemClock, type Clock, type ClockTimer, type Logger } from '../../../lib/index.ts';
import { CLOSE_CODES, CONNECT_PATH, LIMITS, SUBPROTOCOL, TIMING } from '../../../protocol/index.ts';
import { bearerToken, type ControlEvent, type ControlPlane } from '../control/index.ts';
import type { DeviceTokenIdentity } from '../store/index.ts';
import { Connection } from './connection.ts';

export interface EdgeHubOptions {
  control: ControlPlane;
  logger: Logger;
  /** Websocket ping period; defaults to the protocol's 30 s. */
  heartbeatMs?: number;
  helloTimeoutMs?: number;
  /** Changes within this window are pushed together (bursts of admin changes cost one push). */
  pushCoalesceMs?: number;
  /** Schedules the heartbeat, the push window, the hello deadline, the drain and the close grace; tests pass a ManualClock. */
  clock?: Clock;
  /** Told to agents in `settings.drain_reconnect_s`; defaults to the protocol's 30 s. */
  drainReconnectS?: number;
}

/** What a drain did: connections the agents closed after 4503, and ones still open at its deadline (cut). */
export interface DrainOutcome {
  closed: number;
  cut: number;
}

/** A second connection of the same device replaces the first (the old one is usually a dead socket). */
export const SUPERSEDED_CLOSE_CODE = CLOSE_CODES.superseded.code;

/**
 * A device counts as connected while its row's heartbeat is this many periods old at most: one
 * missed beat (a slow database write) is not a disconnection; a replica killed without closing its
 * rows stops counting after two and a half periods.
 */
export const CONNECTION_FRESH_PERIODS = 2.5;

/** The close reason of a drain (the code, 4503, is what the agent branches on). */
const DRAIN_REASON = 'gateway replica draining: reconnect to another one';

const REFUSAL: Record<NonNullable<DeviceTokenIdentity['refused']>, { status: number; code: string; message: string }> = {
  device_revoked: { status: 403, code: 'revoked', message: 'this device was revoked by an administrator' },
  token_expired: { status: 401, code: 'token_expired', message: 'the device token expired; renew it at /edge/v1/token with a signed challenge' },
};

function rejectUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const reason = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class EdgeHub {
  readonly #control: ControlPlane;
  readonly #logger: Logger;
  readonly #wss: WebSocketServer;
  readonly #byDevice = new Map<string, Connection>();
  readonly #clock: Clock;
  readonly #heartbeatMs: number;
  #heartbeat: ClockTimer | undefined;
  readonly #helloTimeoutMs: number;
  readonly #heartbeatS: number;
  readonly #coalesceMs: number;
  readonly #unsubscribe: () => void;
  #pending: { all: boolean; userIds: Set<string> } | undefined;
  #pushTimer: ClockTimer | undefined;
  #closed = false;
  #draining = false;
  /** Resolves the drain's wait when the last connection is gone. */
  #onEmpty: (() => void) | undefined;
  readonly #drainReconnectS: number;
  /** "Last seen" writes still in flight, awaited by close() before the store goes away. */
  readonly #touches = new Set<Promise<void>>();
  /** Writes to `device_connections` per device, in order (an end must not overtake the record of the next connection). */
  readonly #connectionWrites = new Map<string, Promise<void>>();

  constructor(options: EdgeHubOptions) {
    this.#control = options.control;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#helloTimeoutMs = options.helloTimeoutMs ?? TIMING.helloTimeoutS * 1000;
    this.#heartbeatMs = options.heartbeatMs ?? TIMING.heartbeatS * 1000;
    this.#heartbeatS = Math.max(1, Math.round(this.#heartbeatMs / 1000));
    this.#coalesceMs = options.pushCoalesceMs ?? 20;
    this.#drainReconnectS = options.drainReconnectS ?? TIMING.drainReconnectS;
    // Frames up to twice the message limit reach parseMessage, which answers 4413 with a reason;
    // beyond that the websocket layer cuts the connection (1009) before buffering more.
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: 2 * LIMITS.maxAgentMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#scheduleBeat();
    this.#unsubscribe = this.#control.onEvent((event) => this.#onControlEvent(event));
  }

  get connectionCount(): number {
    return this.#byDevice.size;
  }

  isConnected(deviceId: string): boolean {
    return this.#byDevice.has(deviceId);
  }

  /**
   * Devices connected to any replica sharing the database (fresh heartbeats in `device_connections`),
   * plus this replica's own connections (whose rows may still be on their way).
   */
  async connectedDevices(): Promise<Set<string>> {
    const freshSince = new Date(this.#clock.now() - CONNECTION_FRESH_PERIODS * this.#heartbeatMs).toISOString();
    const connected = await this.#control.store.connectedDeviceIds(freshSince);
    for (const id of this.#byDevice.keys()) connected.add(id);
    return connected;
  }

  /** Runs a `device_connections` write after the device's earlier ones; failures are logged (the heartbeat and the agents' reconnects repair them). */
  #connectionWrite(deviceId: string, what: string, write: () => Promise<void>): void {
    const previous = this.#connectionWrites.get(deviceId) ?? Promise.resolve();
    const next = previous.then(write).catch((err: unknown) => this.#logger.error({ err, device_id: deviceId }, `failed to ${what}`));
    this.#connectionWrites.set(deviceId, next);
    this.#touches.add(next);
    void next.finally(() => {
      this.#touches.delete(next);
      if (this.#connectionWrites.get(deviceId) === next) this.#connectionWrites.delete(deviceId);
    });
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /** Takes an HTTP upgrade for the connect path; returns false for any other path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const path = (req.url ?? '').split('?')[0];
    if (path !== CONNECT_PATH) return false;
    socket.on('error', (err) => this.#logger.debug({ err: err.message }, 'upgrade socket error'));
    void this.#authenticateAndUpgrade(req, socket, head).catch((err: unknown) => {
      this.#logger.error({ err }, 'websocket upgrade failed');
      if (!socket.destroyed) rejectUpgrade(socket, 503, 'internal', 'the gateway could not check the device token');
    });
    return true;
  }

  async #authenticateAndUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    if (this.#closed) return rejectUpgrade(socket, 503, 'unavailable', 'the gateway is shutting down');
    if (this.#draining) return rejectUpgrade(socket, 503, 'draining', 'this gateway replica is draining; connect to another one');
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) {
      return rejectUpgrade(socket, 400, 'bad_subprotocol', `offer the websocket subprotocol ${SUBPROTOCOL}`);
    }
    const token = bearerToken(req.headers.authorization);
    if (!token) return rejectUpgrade(socket, 401, 'unauthorized', 'missing Authorization: Bearer <device token>');
    const identity = await this.#control.authenticateDevice(token);
    if (!identity) return rejectUpgrade(socket, 401, 'unauthorized', 'unknown device token; enroll the device');
    if (identity.refused) {
      const r = REFUSAL[identity.refused];
      return rejectUpgrade(socket, r.status, r.code, r.message);
    }
    if (socket.destroyed) return;
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, identity));
  }

  #accept(ws: WebSocket, identity: DeviceTokenIdentity): void {
    if (this.#closed) {
      ws.close(CLOSE_CODES.goingAway.code, 'gateway shutting down');
      return;
    }
    // Authenticated while the drain began: send it on at once, like the others.
    if (this.#draining) {
      ws.close(CLOSE_CODES.draining.code, DRAIN_REASON);
      return;
    }
    const logger = this.#logger.child({ device_id: identity.deviceId });
    const connection = new Connection({
      ws,
      identity,
      control: this.#control,
      logger,
      helloTimeoutMs: this.#helloTimeoutMs,
      heartbeatS: this.#heartbeatS,
      drainReconnectS: this.#drainReconnectS,
      clock: this.#clock,
      onClosed: (c) => {
        if (this.#byDevice.get(c.deviceId) !== c) return;
        this.#byDevice.delete(c.deviceId);
        this.#connectionWrite(c.deviceId, 'remove the connection row', () => this.#control.store.endConnection(c.deviceId, this.#control.replicaId));
        // "Last seen" is the end of the session, not the last throttled touch.
        const touch = this.#control.touchDevice(c.deviceId).catch((err: unknown) => logger.error({ err }, 'failed to record last seen'));
        this.#touches.add(touch);
        void touch.finally(() => this.#touches.delete(touch));
        if (this.#byDevice.size === 0) this.#onEmpty?.();
      },
    });
    const previous = this.#byDevice.get(identity.deviceId);
    this.#byDevice.set(identity.deviceId, connection);
    previous?.closeWith(SUPERSEDED_CLOSE_CODE, 'superseded by a newer connection of this device');
    // The row says this replica holds the device now; on PostgreSQL its commit tells the replica
    // holding an older connection to close it (`superseded`).
    const at = this.#nowIso();
    this.#connectionWrite(identity.deviceId, 'record the connection', () => this.#control.store.recordConnection(identity.deviceId, this.#control.replicaId, at));
  }

  /** One heartbeat per period, re-armed after each (a timer, not an interval, so any Clock can run it). */
  #scheduleBeat(): void {
    this.#heartbeat = this.#clock.setTimeout(() => {
      this.#beat();
      if (!this.#closed) this.#scheduleBeat();
    }, this.#heartbeatMs);
    // A pending heartbeat must not keep a shutting-down process alive.
    this.#heartbeat.unref();
  }

  #beat(): void {
    // One statement for every row of this replica, whatever the number of connections.
    if (this.#byDevice.size > 0) {
      const beat = this.#control.store
        .heartbeatConnections(this.#control.replicaId, this.#nowIso())
        .then(() => undefined)
        .catch((err: unknown) => this.#logger.error({ err }, 'failed to write the connections heartbeat'));
      this.#touches.add(beat);
      void beat.finally(() => this.#touches.delete(beat));
    }
    for (const c of this.#byDevice.values()) {
      if (!c.alive) {
        this.#logger.info({ device_id: c.deviceId }, 'agent missed a heartbeat; dropping the connection');
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  #onControlEvent(event: ControlEvent): void {
    if (event.type === 'revoked') {
      // Only the device's own revocation (or reset) ends its session: a person's key revoked signs
      // that person out, and the device's sync goes on for everyone else signed in there.
      this.#byDevice.get(event.deviceId)?.closeWith(CLOSE_CODES.revoked.code, 'this device was revoked');
      return;
    }
    if (event.type === 'superseded') return this.#supersededElsewhere(event.deviceId);
    if (event.type === 'credentials') return;
    this.#pending ??= { all: false, userIds: new Set() };
    if (event.userIds) for (const u of event.userIds) this.#pending.userIds.add(u);
    else this.#pending.all = true;
    this.#pushTimer ??= this.#clock.setTimeout(() => void this.#flush(), this.#coalesceMs);
  }

  /**
   * Another replica accepted a connection of this device. The table decides which is newer: checked
   * after this replica's own writes for the device, so a connection accepted here after that one
   * (its row committed later) stays, and the other replica closes its own instead.
   */
  #supersededElsewhere(deviceId: string): void {
    const held = this.#byDevice.get(deviceId);
    if (!held) return;
    this.#connectionWrite(deviceId, 'check a takeover', async () => {
      const holder = await this.#control.store.connectionReplica(deviceId);
      if (holder === undefined || holder === this.#control.replicaId || this.#byDevice.get(deviceId) !== held) return;
      this.#logger.info({ device_id: deviceId }, 'the device connected to another replica: closing the older connection here');
      held.closeWith(SUPERSEDED_CLOSE_CODE, 'superseded by a newer connection of this device on another gateway replica');
    });
  }

  async #flush(): Promise<void> {
    this.#pushTimer = undefined;
    const pending = this.#pending;
    this.#pending = undefined;
    if (!pending || this.#closed) return;
    const targets = [...this.#byDevice.values()].filter((c) => c.ready && c.isOpen);
    await Promise.all(
      targets.map(async (c) => {
        try {
          if (!pending.all) {
            const users = await this.#control.store.deviceUserMap(c.deviceId);
            if (![...users.values()].some((u) => pending.userIds.has(u))) return;
          }
          await c.sendPolicy();
        } catch (err) {
          this.#logger.error({ err, device_id: c.deviceId }, 'failed to push the policy');
        }
      }),
    );
  }

  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Drains this replica (SIGTERM, docs/operations.md): refuses new connections (503 at the upgrade),
   * closes each agent's connection with 4503 one after another over `windowMs`, so the fleet does
   * not arrive at the other replicas in one burst (each agent adds its own random delay on top), and
   * resolves when every connection is gone or `windowMs + graceMs` has passed. close() then cuts what
   * is left.
   */
  async drain(windowMs: number, graceMs: number): Promise<DrainOutcome> {
    if (this.#closed || this.#draining) return { closed: 0, cut: this.#byDevice.size };
    this.#draining = true;
    const connections = [...this.#byDevice.values()];
    this.#logger.info({ connections: connections.length, window_ms: windowMs, reconnect_window_s: this.#drainReconnectS }, 'draining: closing agent connections (4503) over the window');
    const step = connections.length > 0 ? windowMs / connections.length : 0;
    const timers = connections.map((c, i) => this.#clock.setTimeout(() => c.closeWith(CLOSE_CODES.draining.code, DRAIN_REASON), Math.floor(i * step)));
    let deadline: ClockTimer | undefined;
    await new Promise<void>((resolve) => {
      if (this.#byDevice.size === 0) return resolve();
      this.#onEmpty = resolve;
      deadline = this.#clock.setTimeout(resolve, windowMs + graceMs);
    });
    this.#onEmpty = undefined;
    this.#clock.clearTimeout(deadline);
    for (const t of timers) this.#clock.clearTimeout(t);
    const cut = this.#byDevice.size;
    this.#logger.info({ closed: connections.length - cut, cut }, 'drained: agent connections closed');
    return { closed: connections.length - cut, cut };
  }

  /** Closes every connection (1001) and stops; waits up to `graceMs` for peers to answer the close. */
  async close(graceMs = 2_000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#clock.clearTimeout(this.#heartbeat);
    this.#clock.clearTimeout(this.#pushTimer);
    const connections = [...this.#byDevice.values()];
    await Promise.all(
      connections.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.ws.readyState === c.ws.CLOSED) return resolve();
            const timer = this.#clock.setTimeout(() => {
              c.ws.terminate();
              resolve();
            }, graceMs);
            c.ws.once('close', () => {
              this.#clock.clearTimeout(timer);
              resolve();
            });
            c.ws.close(CLOSE_CODES.goingAway.code, 'gateway shutting down');
          }),
      ),
    );
    this.#byDevice.clear();
    // A drain still waiting (a second SIGTERM cut it short) is over too.
    this.#onEmpty?.();
    await Promise.all(this.#touches);
    // Whatever rows are left (a write that failed, a close that raced) are this replica's, and it holds nothing now.
    // A store already closed throws synchronously on SQLite: the hub still finishes closing either way.
    try {
      await this.#control.store.endReplicaConnections(this.#control.replicaId);
    } catch (err) {
      this.#logger.error({ err }, "failed to remove this replica's connection rows");
    }
    this.#wss.close();
  }
}
