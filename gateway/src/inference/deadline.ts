// A restartable timer: the connect, response-headers and idle limits of a forwarded exchange.

export class Deadline {
  readonly #ms: number;
  readonly #onExpire: () => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, onExpire: () => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
  }

  /** Starts the timer, or starts it over (activity seen). */
  reset(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onExpire();
    }, this.#ms);
    // A pending limit must not keep a shutting-down process alive.
    this.#timer.unref();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
