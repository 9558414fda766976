// Start and stop for the daemon: on SIGTERM/SIGINT stop accepting work, let in-flight work finish
// up to a grace period, close every service in reverse start order, flush the store, exit 0.
// A second signal exits at once.
import type { Logger } from '../lib/logger.ts';

export interface Service {
  readonly name: string;
  /** Stop taking new work (close listeners); existing work continues. */
  stopAccepting?(): void | Promise<void>;
  /** Resolve when this service's own in-flight work is done or the deadline (epoch ms) passes. */
  drain?(deadline: number): Promise<void>;
  /** Release everything; called once, after draining. */
  close(): void | Promise<void>;
  /** Units of work this service has in flight (open proxy connections), for the shutdown log. */
  inFlight?(): number;
}

/** Counts units of work in flight (a proxied request, a local API call) so shutdown can wait for them. */
export class WorkTracker {
  #inFlight = 0;
  #waiters: (() => void)[] = [];

  begin(): () => void {
    this.#inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#inFlight--;
      if (this.#inFlight === 0) for (const w of this.#waiters.splice(0)) w();
    };
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** True when idle before the deadline, false when the deadline came first. */
  whenIdle(deadline: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

export interface LifecycleOptions {
  logger: Logger;
  graceMs: number;
}

export class Lifecycle {
  readonly tracker = new WorkTracker();
  readonly #services: Service[] = [];
  readonly #logger: Logger;
  readonly #graceMs: number;
  #stopping: Promise<void> | undefined;

  constructor(options: LifecycleOptions) {
    this.#logger = options.logger;
    this.#graceMs = options.graceMs;
  }

  /** Services are closed in the reverse of the order they were added. */
  add(service: Service): void {
    this.#services.push(service);
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  shutdown(reason: string): Promise<void> {
    this.#stopping ??= this.#shutdown(reason);
    return this.#stopping;
  }

  async #shutdown(reason: string): Promise<void> {
    const deadline = Date.now() + this.#graceMs;
    const reversed = [...this.#services].reverse();
    this.#logger.info({ reason }, 'stopping');
    for (const s of reversed) await this.#guard(s, 'stopAccepting', () => s.stopAccepting?.());
    this.#logger.info({ in_flight: this.#inFlight(), grace_ms: this.#graceMs }, 'no new work accepted; draining');
    const [idle] = await Promise.all([this.tracker.whenIdle(deadline), ...reversed.map((s) => this.#guard(s, 'drain', () => s.drain?.(deadline)))]);
    const left = this.#inFlight();
    if (!idle || left > 0) this.#logger.warn({ in_flight: left }, 'grace period over; closing the remaining work');
    for (const s of reversed) await this.#guard(s, 'close', () => s.close());
    this.#logger.info('stopped');
  }

  #inFlight(): number {
    return this.tracker.inFlight + this.#services.reduce((n, s) => n + (s.inFlight?.() ?? 0), 0);
  }

  async #guard(service: Service, step: string, fn: () => unknown): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#logger.error({ service: service.name, step, err: (err as Error).message }, 'service failed while stopping');
    }
  }

  /**
   * First SIGTERM/SIGINT: graceful shutdown, then `exit(0)`. A second one: `exit(1)` at once, for a
   * person pressing Ctrl-C twice or a service manager that has run out of patience.
   */
  installSignalHandlers(exit: (code: number) => void = (code) => process.exit(code)): void {
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.#stopping) {
        this.#logger.warn({ signal }, 'second signal: exiting now');
        exit(1);
        return;
      }
      this.shutdown(`received ${signal}`).then(
        () => exit(0),
        (err: unknown) => {
          this.#logger.error({ err: (err as Error).message }, 'shutdown failed');
          exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}
