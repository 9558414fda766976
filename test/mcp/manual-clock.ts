// A clock the test moves by hand: timers fire, in time order, only inside advance(). It implements
// the MCP room's Clock, so a test proves "nothing happened" by advancing past the deadline instead
// of sleeping.
import type { Clock, Timer } from '../../agent/src/mcp/index.ts';

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #pending = new Set<Pending>();

  constructor(start = Date.parse('2026-01-01T00:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#pending.add(p);
    return { cancel: () => void this.#pending.delete(p), unref: () => undefined };
  }

  /** Timers waiting to fire. */
  pending(): number {
    return this.#pending.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due (also ones set while advancing). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = [...this.#pending].filter((p) => p.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#pending.delete(next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}
