// The short-lived device token: kept in the store, renewed before it ends by signing a fresh gateway
// challenge with the device key (docs/protocol.md "Device identity"). The sync channel asks for a
// fresh one before it dials; the forwarder reads the current one for each inference request.
import type tls from 'node:tls';
import { TIMING } from '../../../protocol/index.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Credentials } from './credentials.ts';
import type { DeviceKeyStore } from './device-key.ts';
import { renewDeviceToken } from './device-proof.ts';
import { LoginError } from './errors.ts';

const RETRY_AFTER_FAILURE_MS = 30_000;

export interface DeviceTokensOptions {
  credentials: Pick<Credentials, 'enrollment' | 'saveDeviceToken'>;
  deviceKeys: DeviceKeyStore;
  /** The configured control_url (managed config applies live); the enrollment's when unset. */
  controlUrl: () => string | undefined;
  logger: Logger;
  clock?: Clock;
  ca?: string;
  secureContext?: tls.SecureContext;
  allowInsecure?: boolean;
}

export class DeviceTokens {
  readonly #o: DeviceTokensOptions;
  readonly #clock: Clock;
  #renewing: Promise<string | undefined> | undefined;
  /** When the last renewal failed: background renewals from inference wait a while after one. */
  #failedAt = Number.NEGATIVE_INFINITY;

  constructor(options: DeviceTokensOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Time left on the token; a token stored without an expiry (tests, an older gateway) is used as it is until refused. */
  #remainingMs(expiresAt: string | undefined): number {
    return expiresAt === undefined ? Number.POSITIVE_INFINITY : Date.parse(expiresAt) - this.#clock.now();
  }

  /**
   * The stored token while it is still valid, for an inference request's header; starts a renewal in
   * the background when it is close to its end (the request goes on with the current one).
   */
  current(): string | undefined {
    const enrollment = this.#o.credentials.enrollment();
    if (!enrollment) return undefined;
    const left = this.#remainingMs(enrollment.tokenExpiresAt);
    // Each forwarded request may ask; after a failure they wait, so a gateway that refuses (or is
    // down) is not sent a challenge per request.
    if (left < TIMING.deviceTokenRenewBeforeS * 1000 && this.#clock.now() - this.#failedAt >= RETRY_AFTER_FAILURE_MS) {
      this.fresh().catch((err: unknown) => this.#o.logger.warn({ reason: (err as Error).message }, 'device token renewal failed'));
    }
    return left > 0 ? enrollment.deviceToken : undefined;
  }

  /**
   * A token with at least the renewal margin left, renewed when needed (`force`: renewed anyway, as
   * after the gateway refused the stored one). Undefined when the device is not enrolled. Throws a
   * LoginError: `rejected` when the gateway refuses this device (revoked, unknown key), others when it
   * cannot be reached.
   */
  fresh(options: { force?: boolean } = {}): Promise<string | undefined> {
    const enrollment = this.#o.credentials.enrollment();
    if (!enrollment) return Promise.resolve(undefined);
    if (!options.force && this.#remainingMs(enrollment.tokenExpiresAt) >= TIMING.deviceTokenRenewBeforeS * 1000) return Promise.resolve(enrollment.deviceToken);
    // One renewal at a time: every caller waiting meanwhile gets its token.
    this.#renewing ??= this.#renew(enrollment.controlUrl, enrollment.deviceId).finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renew(enrolledAt: string, deviceId: string): Promise<string | undefined> {
    const key = await this.#o.deviceKeys.loadOrCreate();
    const controlUrl = this.#o.controlUrl() ?? enrolledAt;
    try {
      const { token, expiresAt } = await renewDeviceToken(controlUrl, deviceId, key, {
        ca: this.#o.ca,
        secureContext: this.#o.secureContext,
        allowInsecure: this.#o.allowInsecure,
      });
      this.#o.credentials.saveDeviceToken(token, expiresAt);
      this.#o.logger.debug({ expires_at: expiresAt }, 'device token renewed');
      return token;
    } catch (err) {
      this.#failedAt = this.#clock.now();
      if (err instanceof LoginError) this.#o.logger.warn({ code: err.code, status: err.status }, 'device token renewal refused or failed');
      throw err;
    }
  }
}
