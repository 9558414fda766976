// The connection stage's retry loop: when the next attempt is due (full jitter over a growing
// window, backoff.ts), and when a connection has lasted long enough to reset the window. The backoff
// resets only after a connection proved stable, so a gateway that accepts and then drops every
// connection still sees growing delays. A drain (close 4503) is not a failure: the next attempt is
// due after a random delay within the window the gateway stated, and the backoff starts over.
import type { Clock, ClockTimer } from '../lib/clock.ts';
import { computeBackoff, type BackoffPolicy } from './backoff.ts';

export interface ReconnectOptions {
  clock: Clock;
  backoff: BackoffPolicy;
  /** [0, 1) like Math.random. */
  rng: () => number;
  /** A connection that lasted this long resets the backoff. */
  stableAfterMs: number;
}

export class Reconnect {
  readonly #o: ReconnectOptions;
  #attempt = 0;
  #retry: ClockTimer | undefined;
  #stable: ClockTimer | undefined;
  #dueAt: number | null = null;

  constructor(options: ReconnectOptions) {
    this.#o = options;
  }

  /** When the scheduled attempt is due (ms since the epoch), or null when none is. */
  get dueAt(): number | null {
    return this.#dueAt;
  }

  /** Attempts made since the last reset (for logs). */
  get attempt(): number {
    return this.#attempt;
  }

  /** Schedules `attempt` after the next backoff delay; returns the delay. */
  schedule(attempt: () => void): number {
    this.cancel();
    const delay = computeBackoff(this.#attempt, this.#o.rng, this.#o.backoff);
    this.#attempt++;
    return this.#arm(attempt, delay);
  }

  /**
   * The gateway replica is draining (4503): schedules `attempt` after a uniformly random delay in
   * [floor, windowMs], so a replica's fleet reaches the others spread over the window; the backoff
   * starts over (should that attempt fail, the next waits at most the first ceiling). Returns the delay.
   */
  scheduleWithin(windowMs: number, attempt: () => void): number {
    this.reset();
    const floor = Math.min(this.#o.backoff.floorMs, windowMs);
    const raw = this.#o.rng();
    const r = Number.isFinite(raw) ? Math.min(Math.max(raw, 0), 1) : 0.5;
    return this.#arm(attempt, Math.round(floor + r * (windowMs - floor)));
  }

  #arm(attempt: () => void, delay: number): number {
    this.#dueAt = this.#o.clock.now() + delay;
    this.#retry = this.#o.clock.setTimeout(() => {
      this.#retry = undefined;
      this.#dueAt = null;
      attempt();
    }, delay);
    this.#retry.unref();
    return delay;
  }

  /** The channel is usable: reset the backoff once it has stayed up for `stableAfterMs`. */
  connected(): void {
    this.#o.clock.clearTimeout(this.#stable);
    this.#stable = this.#o.clock.setTimeout(() => {
      this.#stable = undefined;
      this.#attempt = 0;
    }, this.#o.stableAfterMs);
    this.#stable.unref();
  }

  /** Forgets the scheduled attempt and the pending reset (a connection ended, or the client stops). */
  cancel(): void {
    this.#o.clock.clearTimeout(this.#retry);
    this.#o.clock.clearTimeout(this.#stable);
    this.#retry = undefined;
    this.#stable = undefined;
    this.#dueAt = null;
  }

  /** Credentials or configuration changed: the next attempt starts from the smallest window. */
  reset(): void {
    this.cancel();
    this.#attempt = 0;
  }
}
