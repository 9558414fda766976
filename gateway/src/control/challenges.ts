// Challenges a device key signs to prove itself (enrollment, token renewal): issued without storing
// anything (expiry and nonce under an HMAC), accepted once and only before they expire. The HMAC key
// and the used challenges live in the store (issue 21), so replicas behind a load balancer answer as
// one gateway: a challenge fetched from one replica is answered on another, and is used once across
// all of them. Only a challenge whose signature checked out is recorded, so what is stored is bounded
// by real devices' renewals, not by whoever asks for challenges.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../../lib/index.ts';
import type { ChallengeStore } from '../store/index.ts';

export class ChallengeIssuer {
  readonly #store: ChallengeStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  /** The shared key, read once (it never changes once generated). */
  #key: Promise<Buffer> | undefined;

  constructor(store: ChallengeStore, clock: Clock, ttlMs: number) {
    this.#store = store;
    this.#clock = clock;
    this.#ttlMs = ttlMs;
  }

  async #mac(body: string): Promise<string> {
    this.#key ??= this.#store.challengeKey();
    const pending = this.#key;
    // A failed read (the database is down) is retried at the next challenge, not cached.
    pending.catch(() => {
      if (this.#key === pending) this.#key = undefined;
    });
    return createHmac('sha256', await pending).update(body).digest('base64url');
  }

  async issue(): Promise<{ challenge: string; expiresAt: string }> {
    const expires = this.#clock.now() + this.#ttlMs;
    const body = `c1.${expires}.${randomBytes(18).toString('base64url')}`;
    return { challenge: `${body}.${await this.#mac(body)}`, expiresAt: new Date(expires).toISOString() };
  }

  /** Why `challenge` cannot be used now, or undefined when it can (before its signature is checked). Does not consume it. */
  async check(challenge: string): Promise<string | undefined> {
    const parts = challenge.split('.');
    if (parts.length !== 4 || parts[0] !== 'c1') return 'the challenge was not issued by this gateway';
    const body = parts.slice(0, 3).join('.');
    const mac = Buffer.from(parts[3]!, 'utf8');
    const expected = Buffer.from(await this.#mac(body), 'utf8');
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return 'the challenge was not issued by this gateway';
    if (Number(parts[1]) <= this.#clock.now()) return 'the challenge expired; ask for a new one';
    return undefined;
  }

  /**
   * Marks a checked challenge used (after its signature verified); returns why it cannot be used
   * when another request, on any replica, used it first.
   */
  async consume(challenge: string): Promise<string | undefined> {
    const hash = createHash('sha256').update(challenge).digest('hex');
    const fresh = await this.#store.consumeChallenge(hash, Number(challenge.split('.')[1]), this.#clock.now());
    return fresh ? undefined : 'the challenge was already used; ask for a new one';
  }
}
