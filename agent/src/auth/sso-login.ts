// SSO sign-in, daemon side: the local API's `/v1/login/*`, `/v1/logout` and `/v1/whoami` work here.
// The daemon makes the PKCE verifier and keeps it with the uid that started the sign-in, exchanges
// the code itself and stores the tokens for that caller's OS user: the CLI only carries the code
// from its loopback listener, so a code caught by any other local process is useless, and no token
// ever leaves the daemon. A sign-in (loopback or device code) is finished or read only by the uid
// that started it.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type tls from 'node:tls';
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Credentials } from './credentials.ts';
import { collectDeviceFacts, type DeviceFacts } from './device-facts.ts';
import type { DeviceKeyStore } from './device-key.ts';
import { signChallenge } from './device-proof.ts';
import type { DeviceTokens } from './device-token.ts';
import { LoginError } from './errors.ts';
import {
  authorizeUrl,
  discover,
  exchangeCode,
  pollDeviceCode,
  refreshTokens,
  revokeRefreshToken,
  startDeviceAuthorization,
  type DeviceProof,
  type Discovery,
  type OAuthOptions,
  type SignInResult,
} from './gateway-oauth.ts';
import type { UserSessions } from './user-sessions.ts';
import type { GatewayUser, TokenSet, UserTokens } from './user-tokens.ts';

/** Who is asking, as the local API's kernel lookup said. */
export interface SignInCaller {
  uid: number;
  osUser: string;
}

/** How long a started sign-in waits for its code (the person may be typing a password, or MFA). */
export const PENDING_LOGIN_MS = 10 * 60_000;
/** Started and unfinished sign-ins one uid may hold: a loop cannot grow the daemon's memory. */
const MAX_PENDING_PER_UID = 8;
const DISCOVERY_TTL_MS = 5 * 60_000;

export interface SsoLoginOptions {
  credentials: Credentials;
  deviceKeys: DeviceKeyStore;
  deviceTokens: Pick<DeviceTokens, 'fresh' | 'current'>;
  tokens: UserTokens;
  sessions: UserSessions;
  controlUrl: () => string | undefined;
  agentVersion: string;
  logger: Logger;
  clock?: Clock;
  deviceFacts?: (deviceId: string) => DeviceFacts;
  ca?: string;
  secureContext?: tls.SecureContext;
  allowInsecure?: boolean;
  /** After a sign-in or sign-out changed who is signed in (the daemon wakes sync, drops caches). */
  onChange?: () => void;
}

interface PendingLoopback {
  caller: SignInCaller;
  verifier: string;
  redirectUri: string;
  expiresAt: number;
}

interface PendingDevice {
  caller: SignInCaller;
  state: 'pending' | 'done' | 'failed';
  error?: string;
  user?: GatewayUser;
  expiresAt: number;
  timer?: ClockTimer;
}

export interface WhoAmI {
  os_user: string;
  signed_in: boolean;
  method: 'sso' | 'virtual_key' | null;
  user: { id: string; email: string | null; name: string | null } | null;
  access_expires_at: string | null;
  refresh_error: string | null;
  device_id: string;
}

const sameCaller = (a: SignInCaller, b: SignInCaller) => a.uid === b.uid && a.osUser === b.osUser;

/** A loopback redirect as RFC 8252 7.3 allows it: http, a loopback host, a port; else why not. */
export function checkRedirectUri(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length > 256) throw new LoginError('invalid_request', 'redirect_uri must be the CLI\'s loopback listener, e.g. http://127.0.0.1:PORT/callback');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new LoginError('invalid_request', 'redirect_uri is not a URL');
  }
  if (url.protocol !== 'http:' || !['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname) || url.port === '' || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new LoginError('invalid_request', 'redirect_uri must be http://127.0.0.1:PORT/PATH (or [::1] / localhost) without query, user or fragment');
  }
  return url.href;
}

export class SsoLogin {
  readonly #o: SsoLoginOptions;
  readonly #clock: Clock;
  readonly #loopback = new Map<string, PendingLoopback>();
  readonly #devices = new Map<string, PendingDevice>();
  #discovery: { controlUrl: string; at: number; value: Promise<Discovery> } | undefined;
  /** The last discovery that answered, for sentences that cannot wait for the network (`heimdall status`). */
  #lastKnown: { controlUrl: string; value: Discovery } | undefined;

  constructor(options: SsoLoginOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  #oauth(): OAuthOptions {
    const controlUrl = this.#o.controlUrl();
    if (controlUrl === undefined || controlUrl.trim() === '') {
      throw new LoginError('invalid_control_url', 'no control_url is configured on this machine: IT sets control_url (or gateway_url) in the managed configuration; until then `heimdall login` cannot work');
    }
    return { controlUrl, ca: this.#o.ca, secureContext: this.#o.secureContext, allowInsecure: this.#o.allowInsecure, now: () => this.#clock.now() };
  }

  /** The gateway's discovery, cached a few minutes per control_url (a failure is not cached). */
  discovery(): Promise<Discovery> {
    const o = this.#oauth();
    const cached = this.#discovery;
    if (cached && cached.controlUrl === o.controlUrl && this.#clock.now() - cached.at < DISCOVERY_TTL_MS) return cached.value;
    const value = discover(o);
    this.#discovery = { controlUrl: o.controlUrl, at: this.#clock.now(), value };
    value.then((d) => {
      this.#lastKnown = { controlUrl: o.controlUrl, value: d };
    }, () => undefined);
    value.catch(() => {
      if (this.#discovery?.value === value) this.#discovery = undefined;
    });
    return value;
  }

  /**
   * How a person signs in here, from the last discovery that answered for the configured control_url:
   * `heimdall login` where the organization has single sign-on, `heimdall login --virtual-key` where
   * it only takes keys; undefined until the gateway has said (a new discovery is started then).
   */
  signInCommand(): string | undefined {
    let controlUrl: string;
    try {
      controlUrl = this.#oauth().controlUrl;
    } catch {
      return undefined;
    }
    const known = this.#lastKnown?.controlUrl === controlUrl ? this.#lastKnown.value : undefined;
    this.discovery().catch(() => undefined);
    if (!known) return undefined;
    if (known.ssoEnabled) return '`heimdall login`';
    if (known.virtualKeyLogin) return '`heimdall login --virtual-key` with the key IT gave you';
    return 'the way IT tells you (the gateway offers neither single sign-on nor virtual-key sign-in)';
  }

  async options(): Promise<{ sso: boolean; virtual_key: boolean; gateway: string }> {
    const d = await this.discovery();
    return { sso: d.ssoEnabled, virtual_key: d.virtualKeyLogin, gateway: this.#oauth().controlUrl };
  }

  #sweep(): void {
    const now = this.#clock.now();
    for (const [state, p] of this.#loopback) if (p.expiresAt <= now) this.#loopback.delete(state);
    for (const [id, p] of this.#devices) {
      if (p.expiresAt > now) continue;
      if (p.timer) this.#clock.clearTimeout(p.timer);
      this.#devices.delete(id);
    }
  }

  #checkRoom(caller: SignInCaller): void {
    this.#sweep();
    const held = [...this.#loopback.values(), ...[...this.#devices.values()].filter((d) => d.state === 'pending')].filter((p) => p.caller.uid === caller.uid).length;
    if (held >= MAX_PENDING_PER_UID) throw new LoginError('invalid_request', `you have ${held} sign-ins started and not finished; finish one or wait ${PENDING_LOGIN_MS / 60_000} minutes`);
  }

  async start(caller: SignInCaller, redirectUri: unknown): Promise<{ authorize_url: string; state: string }> {
    const redirect = checkRedirectUri(redirectUri);
    this.#checkRoom(caller);
    const d = await this.discovery();
    if (!d.ssoEnabled) throw new LoginError('rejected', 'your organization has not set up single sign-on on its gateway: ask IT, or sign in with `heimdall login --virtual-key` if they gave you a key');
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(24).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    this.#loopback.set(state, { caller, verifier, redirectUri: redirect, expiresAt: this.#clock.now() + PENDING_LOGIN_MS });
    return { authorize_url: authorizeUrl(d, { redirectUri: redirect, codeChallenge: challenge, state }), state };
  }

  async finish(caller: SignInCaller, state: unknown, code: unknown): Promise<{ os_user: string; user: GatewayUser; device_id: string }> {
    if (typeof state !== 'string' || typeof code !== 'string' || code.length === 0 || code.length > 2048) {
      throw new LoginError('invalid_request', 'body must be {"state": "...", "code": "..."} as the browser brought them to the loopback listener');
    }
    this.#sweep();
    const pending = this.#loopback.get(state);
    // Another uid's state is answered like an unknown one: its existence is not confirmed to them.
    if (!pending || !sameCaller(pending.caller, caller)) {
      throw new LoginError('invalid_request', 'no sign-in was started under this state by you, or it is older than 10 minutes: run `heimdall login` again');
    }
    this.#loopback.delete(state);
    const d = await this.discovery();
    const result = await exchangeCode(d, this.#oauth(), { code, redirectUri: pending.redirectUri, verifier: pending.verifier, osUser: caller.osUser, proof: await this.#deviceProof() });
    return this.#store(caller, result, 'browser');
  }

  async startDevice(caller: SignInCaller): Promise<{ login_id: string; user_code: string; verification_uri: string; verification_uri_complete: string | null; expires_in: number; interval: number }> {
    this.#checkRoom(caller);
    const d = await this.discovery();
    if (!d.ssoEnabled) throw new LoginError('rejected', 'your organization has not set up single sign-on on its gateway: ask IT, or sign in with `heimdall login --virtual-key` if they gave you a key');
    const auth = await startDeviceAuthorization(d, this.#oauth());
    const loginId = randomUUID();
    const interval = Math.max(1, auth.interval ?? 5);
    const entry: PendingDevice = { caller, state: 'pending', expiresAt: this.#clock.now() + auth.expires_in * 1000 + PENDING_LOGIN_MS };
    this.#devices.set(loginId, entry);
    const deadline = this.#clock.now() + auth.expires_in * 1000;
    const poll = (intervalS: number): void => {
      entry.timer = this.#clock.setTimeout(() => {
        void (async () => {
          if (!this.#devices.has(loginId)) return;
          if (this.#clock.now() > deadline) return this.#failDevice(entry, 'the device code expired before the sign-in was completed: run `heimdall login --device-code` again');
          try {
            const polled = await pollDeviceCode(d, this.#oauth(), { deviceCode: auth.device_code, osUser: caller.osUser, proof: await this.#deviceProof() });
            if (polled.state === 'pending') return poll(polled.slowDown ? intervalS + 5 : intervalS);
            const stored = this.#store(caller, polled.result, 'device code');
            entry.state = 'done';
            entry.user = stored.user;
          } catch (err) {
            // The gateway not answering one poll is not the end: try again at the next interval.
            if (err instanceof LoginError && err.code === 'unreachable') return poll(intervalS);
            this.#failDevice(entry, err instanceof Error ? err.message : String(err));
          }
        })();
      }, intervalS * 1000);
      entry.timer.unref();
    };
    poll(interval);
    return {
      login_id: loginId,
      user_code: auth.user_code,
      verification_uri: auth.verification_uri,
      verification_uri_complete: auth.verification_uri_complete ?? null,
      expires_in: auth.expires_in,
      interval,
    };
  }

  #failDevice(entry: PendingDevice, message: string): void {
    entry.state = 'failed';
    entry.error = message;
  }

  /** A device sign-in's state, for the uid that started it only (anyone else: as if it did not exist). */
  deviceStatus(caller: SignInCaller, loginId: string): { state: PendingDevice['state']; error?: string; user?: GatewayUser } | undefined {
    this.#sweep();
    const entry = this.#devices.get(loginId);
    if (!entry || !sameCaller(entry.caller, caller)) return undefined;
    return { state: entry.state, ...(entry.error !== undefined ? { error: entry.error } : {}), ...(entry.user ? { user: entry.user } : {}) };
  }

  /** How the device proves itself to the sign-in grants: its token when enrolled, else a first-enrollment proof. */
  async #deviceProof(): Promise<DeviceProof> {
    if (this.#o.credentials.enrollment()) {
      const token = await this.#o.deviceTokens.fresh();
      if (token !== undefined) return { deviceToken: token };
    }
    const o = this.#oauth();
    const deviceId = this.#o.credentials.deviceId();
    const key = await this.#o.deviceKeys.loadOrCreate();
    const proof = await signChallenge(o.controlUrl, 'enroll', deviceId, key, o);
    const facts = (this.#o.deviceFacts ?? ((id: string) => collectDeviceFacts({ deviceId: id, agentVersion: this.#o.agentVersion })))(deviceId);
    return {
      enrollment: {
        device: { device_id: facts.deviceId, hostname: facts.hostname, os: facts.os, os_version: facts.osVersion, arch: facts.arch, agent_version: facts.agentVersion },
        device_key: { public_key: key.publicKey, ...proof },
      },
    };
  }

  #store(caller: SignInCaller, result: SignInResult, how: string): { os_user: string; user: GatewayUser; device_id: string } {
    const deviceId = this.#o.credentials.deviceId();
    if (result.deviceId !== deviceId) throw new LoginError('bad_response', 'the gateway issued the sign-in for another device id than this device\'s; refusing the tokens');
    if (result.enrolled) {
      this.#o.credentials.saveDeviceEnrollment({ deviceToken: result.enrolled.deviceToken, tokenExpiresAt: result.enrolled.expiresAt, controlUrl: this.#oauth().controlUrl, connectUrl: result.enrolled.connectUrl });
    }
    this.#o.tokens.saveSignIn(caller.osUser, result.user, result.tokens);
    this.#o.sessions.schedule(caller.osUser);
    this.#o.logger.info({ os_user: caller.osUser, user_id: result.user.id, device_id: deviceId, how, enrolled: result.enrolled !== undefined }, 'signed in with single sign-on');
    this.#o.onChange?.();
    return { os_user: caller.osUser, user: result.user, device_id: deviceId };
  }

  /** The refresh the sessions run: the device token goes with it (the refresh token is bound to this device). */
  async refresh(refreshToken: string): Promise<TokenSet> {
    const d = await this.discovery();
    const deviceToken = await this.#o.deviceTokens.fresh();
    if (deviceToken === undefined) throw new LoginError('rejected', 'this device is not enrolled (or was revoked)');
    try {
      return await refreshTokens(d, this.#oauth(), { refreshToken, deviceToken });
    } catch (err) {
      // `invalid_device`: the device token was not accepted (expired between our check and theirs):
      // renew it with the device key and try once more; `invalid_grant` means sign in again.
      if (!(err instanceof LoginError) || err.gatewayCode !== 'invalid_device') throw err;
      const renewed = await this.#o.deviceTokens.fresh({ force: true });
      if (renewed === undefined) throw err;
      return refreshTokens(d, this.#oauth(), { refreshToken, deviceToken: renewed });
    }
  }

  /** Signs `osUser` out of SSO: the tokens are gone at once; the refresh family is revoked at the gateway when it answers. */
  async signOut(osUser: string): Promise<{ signed_out: boolean; revoked: boolean | null; revoke_error?: string }> {
    this.#o.sessions.forget(osUser);
    const refreshToken = this.#o.tokens.remove(osUser);
    if (refreshToken === undefined) return { signed_out: false, revoked: null };
    this.#o.onChange?.();
    try {
      const r = await revokeRefreshToken(await this.discovery(), this.#oauth(), { refreshToken, deviceToken: this.#o.deviceTokens.current() });
      if (!r.revoked) this.#o.logger.warn({ os_user: osUser, detail: r.detail }, 'the gateway did not confirm the revocation of a signed-out refresh token');
      return { signed_out: true, revoked: r.revoked, ...(r.revoked ? {} : { revoke_error: `the gateway answered ${r.detail}` }) };
    } catch (err) {
      this.#o.logger.warn({ os_user: osUser, err: (err as Error).message }, 'could not revoke a signed-out refresh token at the gateway');
      return { signed_out: true, revoked: false, revoke_error: (err as Error).message };
    }
  }

  whoami(osUser: string): WhoAmI {
    const sso = this.#o.tokens.signIn(osUser);
    if (sso) {
      return {
        os_user: osUser,
        signed_in: true,
        method: 'sso',
        user: { id: sso.user.id, email: sso.user.email ?? null, name: sso.user.name ?? null },
        access_expires_at: new Date(sso.accessExpiresAt).toISOString(),
        refresh_error: sso.refreshError ?? null,
        device_id: this.#o.credentials.deviceId(),
      };
    }
    const vk = this.#o.credentials.signedInUsers().find((u) => u.osUser === osUser);
    if (vk) return { os_user: osUser, signed_in: true, method: 'virtual_key', user: { id: vk.userId ?? '', email: vk.email ?? null, name: null }, access_expires_at: null, refresh_error: null, device_id: this.#o.credentials.deviceId() };
    return { os_user: osUser, signed_in: false, method: null, user: null, access_expires_at: null, refresh_error: null, device_id: this.#o.credentials.deviceId() };
  }

  /** Stops device polls (daemon shutdown). */
  close(): void {
    for (const d of this.#devices.values()) if (d.timer) this.#clock.clearTimeout(d.timer);
    this.#devices.clear();
    this.#loopback.clear();
  }
}
