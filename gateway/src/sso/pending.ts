// Short-lived sign-in state kept in memory: sign-ins waiting for the IdP, authorization codes
// waiting for the agent, device codes waiting for the person. Each entry expires by the injected
// clock; the map is bounded (the endpoints that create entries need no authentication), dropping
// the oldest first. One gateway process holds them: docs/sso.md says what several replicas need.
import type { Clock } from '../../../lib/index.ts';

export class ExpiringMap<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #clock: Clock;
  readonly #max: number;

  constructor(clock: Clock, max: number) {
    this.#clock = clock;
    this.#max = max;
  }

  set(key: string, value: V, ttlMs: number): void {
    const now = this.#clock.now();
    if (this.#entries.size >= this.#max) {
      for (const [k, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(k);
      // Insertion order: the first entries are the oldest.
      while (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt: now + ttlMs });
  }

  /** The live entry, or `expired` when it existed and ran out (then it is gone), or undefined. */
  get(key: string): V | 'expired' | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key);
      return 'expired';
    }
    return e.value;
  }

  /** Removes and returns the live entry (single use). */
  take(key: string): V | 'expired' | undefined {
    const value = this.get(key);
    this.#entries.delete(key);
    return value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
