// The user access token: a JWT the gateway signs with its own Ed25519 key (jose), 10 minutes,
// naming the person, the device and the sign-in. Verification is on the inference hot path (issue
// 22), so a token verified once is remembered until its `exp`: later requests cost one Map lookup.
// The signing key lives in the data dir (0600), so a restart does not sign everyone out.
import { generateKeyPairSync, randomBytes, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, jwtVerify, SignJWT, type JWK } from 'jose';
import { writeFileAtomic, type Clock } from '../../../lib/index.ts';
import { SSO_TIMING, USER_TOKEN_AUDIENCE, type UserAccessClaims } from '../../../protocol/index.ts';

export const SIGNING_KEY_FILE = 'sso-signing-key.pem';
/** Verified tokens remembered at most (a token is ~600 bytes; 100,000 of them ~100 MB at worst). */
const CACHE_MAX = 100_000;

export interface AccessTokenInput {
  userId: string;
  email: string;
  deviceId: string;
  osUser: string;
  familyId: string;
}

export class AccessTokens {
  readonly #privateKey: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #kid: string;
  readonly #jwk: JWK;
  readonly #clock: Clock;
  readonly #issuer: () => string;
  readonly #verified = new Map<string, UserAccessClaims>();

  private constructor(privateKey: KeyObject, kid: string, jwk: JWK, clock: Clock, issuer: () => string) {
    this.#privateKey = privateKey;
    this.#publicKey = createPublicKey(privateKey);
    this.#kid = kid;
    this.#jwk = jwk;
    this.#clock = clock;
    this.#issuer = issuer;
  }

  /** Loads the signing key from the data dir, or makes one (0600) at first start. */
  static async open(dataDir: string, clock: Clock, issuer: () => string): Promise<AccessTokens> {
    const file = path.join(dataDir, SIGNING_KEY_FILE);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`the SSO signing key ${file} is unreadable: ${(err as Error).message}; delete it to make a new one (everyone signs in again)`, { cause: err });
      privateKey = generateKeyPairSync('ed25519').privateKey;
      await writeFileAtomic(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    }
    const jwk = await exportJWK(createPublicKey(privateKey));
    const kid = await calculateJwkThumbprint(jwk);
    return new AccessTokens(privateKey, kid, { ...jwk, kid, alg: 'EdDSA', use: 'sig' }, clock, issuer);
  }

  /** The JWKS document (`/oauth/jwks`): the public key only. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.#jwk] };
  }

  async issue(input: AccessTokenInput): Promise<{ token: string; expiresIn: number }> {
    const now = Math.floor(this.#clock.now() / 1000);
    const token = await new SignJWT({ did: input.deviceId, osu: input.osUser, sid: input.familyId, email: input.email })
      .setProtectedHeader({ alg: 'EdDSA', kid: this.#kid, typ: 'at+jwt' })
      .setIssuer(this.#issuer())
      .setAudience(USER_TOKEN_AUDIENCE)
      .setSubject(input.userId)
      .setIssuedAt(now)
      .setExpirationTime(now + SSO_TIMING.accessTokenTtlS)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(this.#privateKey);
    return { token, expiresIn: SSO_TIMING.accessTokenTtlS };
  }

  /** The token's claims when it is this gateway's, unexpired and well-formed; undefined otherwise. */
  async verify(token: string): Promise<UserAccessClaims | undefined> {
    const nowMs = this.#clock.now();
    const cached = this.#verified.get(token);
    if (cached) {
      if (cached.exp * 1000 > nowMs) return cached;
      this.#verified.delete(token);
      return undefined;
    }
    if (token.length > 4096) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#publicKey, {
        issuer: this.#issuer(),
        audience: USER_TOKEN_AUDIENCE,
        algorithms: ['EdDSA'],
        typ: 'at+jwt',
        currentDate: new Date(nowMs),
        // Signed and checked by this gateway's own clock: no skew to tolerate.
        clockTolerance: 0,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      });
      const claims = payload as unknown as UserAccessClaims;
      if (typeof claims.did !== 'string' || typeof claims.sid !== 'string' || typeof claims.osu !== 'string') return undefined;
      if (this.#verified.size >= CACHE_MAX) this.#sweep(nowMs);
      this.#verified.set(token, claims);
      return claims;
    } catch {
      return undefined;
    }
  }

  #sweep(nowMs: number): void {
    for (const [token, claims] of this.#verified) if (claims.exp * 1000 <= nowMs) this.#verified.delete(token);
    // Still full of live tokens: forget them all; they verify again at their next use.
    if (this.#verified.size >= CACHE_MAX) this.#verified.clear();
  }
}
