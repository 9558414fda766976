// Time as a dependency: the gateway's timers (hello deadline, policy push coalescing, pong wait,
// upstream deadlines) read and schedule through a Clock, so a test advances time instead of sleeping.

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

/** Where a ManualClock timer keeps its entry, so clearTimeout finds it. */
const PENDING = Symbol('pending');

interface Pending {
  due: number;
  order: number;
  callback: () => void;
}

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

  /** How far ahead the earliest pending timer falls due, or undefined when none is pending. */
  get nextDueInMs(): number | undefined {
    let next: number | undefined;
    for (const p of this.#pending) next = next === undefined ? p.due : Math.min(next, p.due);
    return next === undefined ? undefined : next - this.#now;
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

