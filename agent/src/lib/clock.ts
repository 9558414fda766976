// Time as a dependency: rooms that wait (the sync channel's backoff, resync, batching delay and
// timeouts) read and schedule through a Clock, so a test advances time instead of sleeping.
// The same interface as the shared lib/clock.ts the gateway uses; the policy engine, approvals and
// the DNS cache take `() => Date` / `() => number`, which `clock.now()` answers.

/** A scheduled callback; `unref` keeps a pending timer from holding the process open. */
export interface ClockTimer {
  unref(): void;
}

export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
  setTimeout(callback: () => void, ms: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
}

/** The real clock: wall time and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
};

interface Pending {
  due: number;
  order: number;
  callback: () => void;
}

const PENDING = Symbol('pending');

/**
 * A clock that moves only when told: `advance(ms)` runs, in due order, every timer that falls due,
 * including timers those callbacks schedule within the window. For tests.
 */
export class ManualClock implements Clock {
  #now: number;
  #order = 0;
  readonly #pending = new Set<Pending>();

  constructor(start: number = Date.UTC(2025, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): ClockTimer {
    const entry: Pending = { due: this.#now + Math.max(0, ms), order: this.#order++, callback };
    this.#pending.add(entry);
    return { unref: () => undefined, [PENDING]: entry } as ClockTimer;
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    const entry = (timer as { [PENDING]?: Pending } | undefined)?.[PENDING];
    if (entry) this.#pending.delete(entry);
  }

  /** Timers scheduled and not yet run or cleared. */
  get pendingTimers(): number {
    return this.#pending.size;
  }

  /** Moves time forward by `ms`, running each timer that falls due at its own instant. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = [...this.#pending].filter((p) => p.due <= end).sort((a, b) => a.due - b.due || a.order - b.order)[0];
      if (!next) break;
      this.#pending.delete(next);
      this.#now = Math.max(this.#now, next.due);
      next.callback();
    }
    this.#now = end;
  }
}
