// Fan-out across replicas: one dedicated connection per replica LISTENs on `heimdall_policy` (every
// bump NOTIFYs the new version in its transaction) and reports versions newer than the last it knew;
// the same connection LISTENs on `heimdall_control` (revocations, credentials, takeovers: JSON
// ReplicaMessages). A lost connection is retried on the store's Clock; on reconnecting it re-reads the
// version and reports it when it moved meanwhile, and tells message subscribers `missed`, since
// notifications sent while it was away are lost.
import pg from 'pg';
import type { Clock, ClockTimer, Logger } from '../../../../lib/index.ts';
import type { ReplicaMessage } from '../types.ts';
import { CONTROL_CHANNEL } from './connections.ts';
import { POLICY_CHANNEL } from './settings.ts';

/** A payload on the control channel as a ReplicaMessage, or undefined when it is not one (logged, dropped). */
export function parseReplicaMessage(payload: string | undefined): ReplicaMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(payload ?? '');
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (typeof m['origin'] !== 'string' || m['origin'] === '') return undefined;
  const origin = m['origin'];
  if (m['type'] === 'credentials' || m['type'] === 'budgets') return { type: m['type'], origin };
  if ((m['type'] === 'revoked' || m['type'] === 'superseded') && typeof m['deviceId'] === 'string') return { type: m['type'], deviceId: m['deviceId'], origin };
  return undefined;
}

export type PolicyListenerState = 'idle' | 'listening' | 'down' | 'closed';

/** Delay before reconnecting a lost listening connection. */
export const LISTEN_RETRY_MS = 1000;

export class PolicyListener {
  readonly #config: pg.ClientConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #readVersion: () => Promise<number>;
  readonly #subscribers = new Set<(version: number) => void>();
  readonly #messageSubscribers = new Set<(message: ReplicaMessage) => void>();
  /** Set once the first connection listened: a later one follows a loss. */
  #listenedOnce = false;
  /** Set by the first subscription: the connection (and its retries) started. */
  #started = false;
  readonly #waiters: { state: PolicyListenerState; resolve: () => void }[] = [];
  #client: pg.Client | undefined;
  #retry: ClockTimer | undefined;
  #state: PolicyListenerState = 'idle';
  /** The server process of the listening session (pg_stat_activity's pid), while connected. */
  backendPid: number | undefined;
  /** The newest version reported (or noted as this replica's own). */
  #known = 0;

  constructor(options: { config: pg.ClientConfig; clock: Clock; logger: Logger; readVersion: () => Promise<number> }) {
    this.#config = { ...options.config, application_name: 'heimdall-gateway-listen' };
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#readVersion = options.readVersion;
  }

  get state(): PolicyListenerState {
    return this.#state;
  }

  /** Resolves once the listener is in `state` (tests and readiness wait on it, never on time). */
  waitFor(state: PolicyListenerState): Promise<void> {
    if (this.#state === state) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ state, resolve }));
  }

  subscribe(listener: (version: number) => void): () => void {
    this.#subscribers.add(listener);
    this.#start();
    return () => this.#subscribers.delete(listener);
  }

  /** Control-channel messages (every replica's, this one's included), and `missed` after a reconnect. */
  subscribeMessages(listener: (message: ReplicaMessage) => void): () => void {
    this.#messageSubscribers.add(listener);
    this.#start();
    return () => this.#messageSubscribers.delete(listener);
  }

  /**
   * Connects on the first subscription. The state stays `idle` until the connection listens, so a
   * second subscriber arriving meanwhile must not start another one: that one would be orphaned,
   * still listening (every message delivered twice) and never watched for loss.
   */
  #start(): void {
    if (this.#started) return;
    this.#started = true;
    void this.#connect();
  }

  #deliver(message: ReplicaMessage): void {
    for (const s of this.#messageSubscribers) {
      try {
        s(message);
      } catch (err) {
        this.#logger.error({ err: (err as Error).message }, 'replica message subscriber failed');
      }
    }
  }

  /** A version this replica made itself: its own notification is then not reported again. */
  note(version: number): void {
    if (version > this.#known) this.#known = version;
  }

  #setState(state: PolicyListenerState): void {
    this.#state = state;
    for (const w of this.#waiters.splice(0)) {
      if (w.state === state) w.resolve();
      else this.#waiters.push(w);
    }
  }

  #report(version: number): void {
    if (!Number.isSafeInteger(version) || version <= this.#known) return;
    this.#known = version;
    for (const s of this.#subscribers) {
      try {
        s(version);
      } catch (err) {
        this.#logger.error({ err: (err as Error).message }, 'policy change subscriber failed');
      }
    }
  }

  async #connect(): Promise<void> {
    if (this.#state === 'closed') return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    const lost = (err?: Error): void => {
      if (this.#client !== client || this.#state === 'closed') return;
      this.#client = undefined;
      this.backendPid = undefined;
      this.#logger.warn({ err: err?.message }, 'policy listening connection lost; reconnecting');
      client.removeAllListeners('notification');
      client.end().catch(() => undefined);
      this.#setState('down');
      this.#retry = this.#clock.setTimeout(() => void this.#connect(), LISTEN_RETRY_MS);
      this.#retry.unref();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (msg) => {
      if (msg.channel === POLICY_CHANNEL) this.#report(Number(msg.payload));
      if (msg.channel !== CONTROL_CHANNEL) return;
      const message = parseReplicaMessage(msg.payload);
      if (message) this.#deliver(message);
      else this.#logger.warn({ channel: CONTROL_CHANNEL, bytes: msg.payload?.length ?? 0 }, 'ignored a control notification that is not a replica message');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${POLICY_CHANNEL}`);
      await client.query(`LISTEN ${CONTROL_CHANNEL}`);
      const backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      if (this.#client !== client) return;
      this.backendPid = backendPid;
      // Whatever was notified before LISTEN took effect is caught by reading the version after it.
      const version = await this.#readVersion();
      if (this.#known === 0) this.#known = version;
      else this.#report(version);
      if (this.#client !== client) return;
      // Revocations and takeovers sent while this connection was away are lost: say so once it is back.
      if (this.#listenedOnce) this.#deliver({ type: 'missed', origin: '' });
      this.#listenedOnce = true;
      this.#setState('listening');
    } catch (err) {
      lost(err as Error);
    }
  }

  async close(): Promise<void> {
    this.#setState('closed');
    this.#clock.clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }
}
