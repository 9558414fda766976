// Challenges a device key signs to prove itself (enrollment, token renewal): issued without storing
// anything (expiry and nonce under an HMAC with a per-process key), accepted once and only before
// they expire. Only a challenge whose signature checked out is remembered, so the memory kept is
// bounded by real devices' renewals, not by whoever asks for challenges.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../../lib/index.ts';

export class ChallengeIssuer {
  readonly #key = randomBytes(32);
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** Challenges already used, with their expiry (forgotten once expired: they are refused anyway). */
  readonly #used = new Map<string, number>();

  constructor(clock: Clock, ttlMs: number) {
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }

  issue(): { challenge: string; expiresAt: string } {
    const expires = this.#clock.now() + this.#ttlMs;
    const body = `c1.${expires}.${randomBytes(18).toString('base64url')}`;
    return { challenge: `${body}.${this.#mac(body)}`, expiresAt: new Date(expires).toISOString() };
  }

  /** Why `challenge` cannot be used now, or undefined when it can. Does not consume it. */
  check(challenge: string): string | undefined {
    const parts = challenge.split('.');
    if (parts.length !== 4 || parts[0] !== 'c1') return 'the challenge was not issued by this gateway';
    const body = parts.slice(0, 3).join('.');
    const mac = Buffer.from(parts[3]!, 'utf8');
    const expected = Buffer.from(this.#mac(body), 'utf8');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return 'the challenge was not issued by this gateway';
    if (Number(parts[1]) <= this.#clock.now()) return 'the challenge expired; ask for a new one';
    if (this.#used.has(challenge)) return 'the challenge was already used; ask for a new one';
    return undefined;
  }

  /** Marks a checked challenge used (after its signature verified). */
  consume(challenge: string): void {
    const now = this.#clock.now();
    for (const [c, expires] of this.#used) if (expires <= now) this.#used.delete(c);
    this.#used.set(challenge, Number(challenge.split('.')[1]));
  }
}
