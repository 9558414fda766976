// Policy fan-out across replicas: one dedicated connection per replica LISTENs on `heimdall_policy`
// (every bump NOTIFYs the new version in its transaction) and reports versions newer than the last
// it knew. A lost connection is retried on the store's Clock; on reconnecting it re-reads the
// version and reports it when it moved meanwhile, since notifications sent while it was away are lost.
import pg from 'pg';
import type { Clock, ClockTimer, Logger } from '../../../../lib/index.ts';
import { POLICY_CHANNEL } from './settings.ts';

export type PolicyListenerState = 'idle' | 'listening' | 'down' | 'closed';

/** Delay before reconnecting a lost listening connection. */
export const LISTEN_RETRY_MS = 1000;

export class PolicyListener {
  readonly #config: pg.ClientConfig;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #readVersion: () => Promise<number>;
  readonly #subscribers = new Set<(version: number) => void>();
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
    if (this.#state === 'idle') void this.#connect();
    return () => this.#subscribers.delete(listener);
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
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${POLICY_CHANNEL}`);
      this.backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      // Whatever was notified before LISTEN took effect is caught by reading the version after it.
      const version = await this.#readVersion();
      if (this.#known === 0) this.#known = version;
      else this.#report(version);
      if (this.#client === client) this.#setState('listening');
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
