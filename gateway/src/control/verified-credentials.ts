// Credentials the inference path has already verified (virtual keys, device tokens), kept by their
// hash for a few seconds so a busy key costs one SHA-256 and a Map lookup instead of a store read per
// request. Only successes are kept. Every revocation clears it at once (the control event
// `credentials`), and a read that was in flight while it was cleared is not kept (its answer may be
// from before the revocation).
import type { Clock } from '../../../lib/index.ts';

/**
 * How long a verified credential is trusted without asking the store again. It bounds how late a
 * revocation the clear did not reach is seen: a database edit by hand, or another replica's revocation
 * before its `credentials` event arrives here (docs/security.md). Short, because a miss costs one
 * indexed read: a key used at 5,000 requests a second is read once every 5 s instead.
 */
export const VERIFIED_CREDENTIAL_MAX_AGE_MS = 5_000;

/** Entries kept; past it the oldest goes first (a fleet's live keys and device tokens fit many times over). */
export const VERIFIED_CREDENTIAL_MAX_ENTRIES = 20_000;

interface Entry<V> {
  value: V;
  /** Clock time after which the entry is not used (its age limit, or the credential's own expiry). */
  until: number;
}

export class VerifiedCredentials<V> {
  readonly #clock: Clock;
  readonly #maxAgeMs: number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry<V>>();
  /** Bumped by clear(): a verification that started under an older generation is not kept. */
  #generation = 0;

  constructor(clock: Clock, options: { maxAgeMs?: number; maxEntries?: number } = {}) {
    this.#clock = clock;
    this.#maxAgeMs = options.maxAgeMs ?? VERIFIED_CREDENTIAL_MAX_AGE_MS;
    this.#maxEntries = options.maxEntries ?? VERIFIED_CREDENTIAL_MAX_ENTRIES;
  }

  /** The verified value for this hash, if it is still fresh. */
  get(hash: string): V | undefined {
    const entry = this.#entries.get(hash);
    if (entry === undefined) return undefined;
    if (this.#clock.now() < entry.until) return entry.value;
    this.#entries.delete(hash);
    return undefined;
  }

  /** Taken before reading the store; pass it to set() so a read that raced a clear() is dropped. */
  generation(): number {
    return this.#generation;
  }

  /** Keeps a verified credential; `expiresAt` (clock ms) is the credential's own end, if it has one. */
  set(hash: string, value: V, generation: number, expiresAt = Infinity): void {
    if (generation !== this.#generation) return;
    const until = Math.min(this.#clock.now() + this.#maxAgeMs, expiresAt);
    this.#entries.delete(hash);
    if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(hash, { value, until });
  }

  /** Forgets everything: a credential was revoked, disabled or reset somewhere. */
  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}
