// Time as a dependency of the MCP room (debounce of file events, periodic rescans, timestamps), so
// tests advance a clock instead of sleeping. Kept to what the room needs; if a shared clock lands in
// lib/, this file becomes a re-export of it.
export interface Timer {
  cancel(): void;
  /** Lets the process exit while the timer is pending (a periodic rescan must not keep it alive). */
  unref(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Timer;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t), unref: () => void t.unref() };
  },
};
