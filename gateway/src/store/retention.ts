// Events retention (config key `events_retention_days`): a periodic prune of audit events older than
// the setting, on either store, driven by the store's Clock so tests advance time instead of waiting.
// On PostgreSQL each run also makes the coming months' event partitions before they are needed.
import type { Clock, ClockTimer, Logger } from '../../../lib/index.ts';

/** What retention needs of a store. */
export interface PrunableEvents {
  /** Removes events whose time is before `cutoff` (ISO), and the day counts of days before its day; returns how many events went. */
  pruneEvents(cutoff: string): Promise<number>;
  /** Upkeep before pruning (PostgreSQL: the partitions of this month and the next ones). */
  prepareEvents?(nowMs: number): Promise<unknown>;
}

const DAY_MS = 86_400_000;
/** How often retention runs: often enough that a day's events never wait long, rare enough to cost nothing. */
export const RETENTION_INTERVAL_MS = 6 * 3_600_000;

export class EventRetention {
  readonly #events: PrunableEvents;
  readonly #days: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  #timer: ClockTimer | undefined;
  #running: Promise<number> = Promise.resolve(0);
  #stopped = false;

  constructor(options: { events: PrunableEvents; days: number; clock: Clock; logger: Logger }) {
    this.#events = options.events;
    this.#days = options.days;
    this.#clock = options.clock;
    this.#logger = options.logger;
  }

  /** Runs once now, then every RETENTION_INTERVAL_MS until stop(). */
  start(): void {
    this.#tick();
  }

  /** The events removed by the run in progress (or the last one): what tests await after advancing the clock. */
  idle(): Promise<number> {
    return this.#running;
  }

  /** One run: upkeep, then the prune at now minus the retention. Never throws (a failed run is logged; the next one retries). */
  runOnce(): Promise<number> {
    const previous = this.#running;
    this.#running = previous.then(async () => {
      const now = this.#clock.now();
      const cutoff = new Date(now - this.#days * DAY_MS).toISOString();
      try {
        await this.#events.prepareEvents?.(now);
        const removed = await this.#events.pruneEvents(cutoff);
        if (removed > 0) this.#logger.info({ removed, cutoff, retention_days: this.#days }, 'events past retention removed');
        return removed;
      } catch (err) {
        this.#logger.error({ err: (err as Error).message, cutoff }, 'events retention failed; the next run retries');
        return 0;
      }
    });
    return this.#running;
  }

  #tick(): void {
    if (this.#stopped) return;
    void this.runOnce();
    this.#timer = this.#clock.setTimeout(() => this.#tick(), RETENTION_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Stops the schedule and waits for a run in progress (the store closes after it). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
  }
}
