// A clock the test moves by hand: timers fire, in due order, only inside advance(). The same class
// as agent/src/lib/clock.ts's ManualClock on branch i13-sync; once both are in, import that one.
import type { Clock, ClockTimer } from '../../agent/src/mcp/index.ts';

interface Pending {
  due: number;
  order: number;
  callback: () => void;
}

const PENDING = Symbol('pending');

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

  /** Moves time forward by `ms`, running each timer that falls due at its own instant (also ones set meanwhile). */
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
