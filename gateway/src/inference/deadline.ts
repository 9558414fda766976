// A restartable timer: the connect, response-headers and idle limits of a forwarded exchange, on the
// handler's Clock (tests move a ManualClock instead of waiting the limit out).
import { systemClock, type Clock, type ClockTimer } from '../../../lib/index.ts';

export class Deadline {
  readonly #ms: number;
  readonly #onExpire: () => void;
  readonly #clock: Clock;
  #timer: ClockTimer | undefined;

  constructor(ms: number, onExpire: () => void, clock: Clock = systemClock) {
    this.#ms = ms;
    this.#onExpire = onExpire;
    this.#clock = clock;
  }

  /** Starts the timer, or starts it over (activity seen). */
  reset(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#onExpire();
    }, this.#ms);
    // A pending limit must not keep a shutting-down process alive.
    this.#timer.unref();
  }

  clear(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
