// Time as a dependency of the MCP room (the debounce of file events, periodic rescans, timestamps),
// so tests advance a clock instead of sleeping. The same interface as agent/src/lib/clock.ts on
// branch i13-sync (the sync room's): once both are in, this file is replaced by an import of that one.

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
