// The gateway as the agents' authorization server, in front of the organization's IdPs: sign-ins
// (loopback code + PKCE, device code) that end in the IdP, the token endpoint's three grants,
// refresh families with rotation and replay detection, revocation, and the per-request check of a
// user access token for inference. HTTP framing is in http.ts; this file decides.
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { Clock, Logger } from '../../../lib/index.ts';
import {
  AGENT_CLIENT_ID,
  DEVICE_CODE_GRANT,
  OAUTH_AUTHORIZE_PATH,
  OAUTH_CALLBACK_PATH,
  OAUTH_DEVICE_AUTHORIZATION_PATH,
  OAUTH_DEVICE_PAGE_PATH,
  OAUTH_JWKS_PATH,
  OAUTH_REVOKE_PATH,
  OAUTH_TOKEN_PATH,
  REFRESH_TOKEN_PREFIX,
  SSO_TIMING,
  deviceEnrollmentSchema,
  type AuthorizationServerMetadata,
  type DeviceAuthorizationResponse,
  type OAuthErrorCode,
  type OAuthTokenRequest,
  type OAuthTokenResponse,
  type UnattributedMode,
} from '../../../protocol/index.ts';
import { ControlError, hashSecret, type ControlPlane } from '../control/index.ts';
import type { GatewayStore, SsoUserRecord } from '../store/index.ts';
import type { AccessTokens } from './access-tokens.ts';
import type { SsoConfig } from './config.ts';
import { ConsoleSignIns } from './console-sign-in.ts';
import { Federation, IdpResponseError, IdpUnavailableError, type SignInChecks } from './federation.ts';
import { chooserPage, deviceCodePage, donePage, errorPage } from './pages.ts';
import { allowListProblem, chooseKey } from './people.ts';
import { ExpiringMap } from './pending.ts';
import { loopbackRedirectProblem } from './redirect-uri.ts';

/** A token endpoint answer other than success: RFC 6749 section 5.2 (plus RFC 8628's codes). */
export class OAuthFailure extends Error {
  readonly status: number;
  readonly error: OAuthErrorCode;
  constructor(status: number, error: OAuthErrorCode, description: string) {
    super(description);
    this.name = 'OAuthFailure';
    this.status = status;
    this.error = error;
  }
}

/** What a browser-facing endpoint answers: a redirect or a page. */
export type PageAnswer = { redirect: string } | { status: number; html: string };

/** A person the IdP vouched for, admitted by the allow-list, with the virtual key they get. */
interface Person {
  userId: string;
  email: string;
  name: string | null;
  keyId: string;
}

type Target = { kind: 'agent'; redirectUri: string; codeChallenge: string; state: string | undefined } | { kind: 'device'; deviceCode: string };

interface PendingSignIn {
  providerId: string;
  checks: SignInChecks;
  callbackUrl: string;
  target: Target;
}

interface PendingCode {
  person: Person;
  redirectUri: string;
  codeChallenge: string;
}

interface PendingDevice {
  userCode: string;
  intervalS: number;
  lastPollAt: number;
  status: 'pending' | 'approved' | 'denied';
  person?: Person;
  denial?: string;
}

/** The person behind an inference request's user token, or why it is refused. */
export type RequestPerson =
  | { ok: true; userId: string; email: string; keyId: string; virtualKey: string }
  | { ok: false; status: 401 | 403; message: string };

export type UnattributedAnswer = { mode: 'block' } | { mode: 'device'; keyId: string; virtualKey: string } | { mode: 'unavailable'; message: string };

/** The device proof a sign-in grant carries: the device token header, or a first enrollment. */
export interface DeviceProofInput {
  deviceToken: string | undefined;
  controlUrl: string;
}

export interface SsoServiceOptions {
  config: SsoConfig;
  store: GatewayStore;
  control: ControlPlane;
  tokens: AccessTokens;
  clock: Clock;
  logger: Logger;
  /** The gateway's public base URL (`https://gw.example.com`): issuer, endpoints and the IdP callback. */
  publicBase: () => string;
  supportUrl?: string | undefined;
}

const MAX_PENDING = 10_000;
// RFC 8628 6.1: no vowels (no words), no look-alikes.
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

const base64urlSha256 = (s: string) => createHash('sha256').update(s, 'ascii').digest('base64url');

export class SsoService {
  readonly #o: SsoServiceOptions;
  readonly #federation: Federation;
  readonly #signIns: ExpiringMap<PendingSignIn>;
  readonly #codes: ExpiringMap<PendingCode>;
  readonly #devices: ExpiringMap<PendingDevice>;
  readonly #userCodes: ExpiringMap<string>;
  /** Families known live or dead on this gateway (revocations go through here, so the cache stays true). */
  readonly #families = new Map<string, boolean>();
  /** Users' disabled mark and key choice, dropped whenever a sign-in or an administrator changes them. */
  readonly #users = new Map<string, SsoUserRecord>();
  readonly #disabledListeners: ((userId: string) => void)[] = [];
  /** Administrators signing in to the console through the IdP (their own pending sign-ins and callback). */
  readonly console: ConsoleSignIns;

  constructor(options: SsoServiceOptions) {
    this.#o = options;
    this.#federation = new Federation(options.config.providers);
    this.console = new ConsoleSignIns({
      federation: this.#federation,
      clock: options.clock,
      logger: options.logger,
      url: (path) => this.#url(path),
      recordUser: (identity) => this.#recordUser(identity),
    });
    this.#signIns = new ExpiringMap(options.clock, MAX_PENDING);
    this.#codes = new ExpiringMap(options.clock, MAX_PENDING);
    this.#devices = new ExpiringMap(options.clock, MAX_PENDING);
    this.#userCodes = new ExpiringMap(options.clock, MAX_PENDING);
    // A revoked or reset device takes its people's sign-ins with it.
    options.control.onEvent((event) => {
      // Another replica disabled a person or ended a sign-in (or this one may have missed it): what
      // this replica cached of people and sign-ins may be stale.
      if (event.type === 'credentials') {
        this.#users.clear();
        this.#families.clear();
        return;
      }
      if (event.type !== 'revoked') return;
      this.#revoke({ deviceId: event.deviceId }, 'device_revoked').catch((err: unknown) => options.logger.error({ err, device_id: event.deviceId }, 'ending the sign-ins of a revoked device failed'));
    });
  }

  get unattributedMode(): UnattributedMode {
    return this.#o.config.unattributed;
  }

  #url(path: string): string {
    return `${this.#o.publicBase().replace(/\/$/, '')}${path}`;
  }

  metadata(): AuthorizationServerMetadata {
    return {
      issuer: this.#o.publicBase(),
      authorization_endpoint: this.#url(OAUTH_AUTHORIZE_PATH),
      token_endpoint: this.#url(OAUTH_TOKEN_PATH),
      device_authorization_endpoint: this.#url(OAUTH_DEVICE_AUTHORIZATION_PATH),
      revocation_endpoint: this.#url(OAUTH_REVOKE_PATH),
      jwks_uri: this.#url(OAUTH_JWKS_PATH),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      heimdall_sso_enabled: true,
      heimdall_virtual_key_login: this.#o.config.allowVirtualKeyLogin,
    };
  }

  jwks() {
    return this.#o.tokens.jwks();
  }

  #page(status: number, title: string, message: string): PageAnswer {
    return { status, html: errorPage(title, message, this.#o.supportUrl) };
  }

  // ---- browser side: /oauth/authorize, /oauth/device, /oauth/callback ----------------------------

  /** GET /oauth/authorize (RFC 6749 4.1.1 with PKCE and a loopback redirect). */
  async authorize(query: URLSearchParams, authorizePath: string): Promise<PageAnswer> {
    const redirectUri = query.get('redirect_uri') ?? undefined;
    // Until the redirect_uri is known good, every problem is a page: never redirect to an unchecked URI.
    const problem = loopbackRedirectProblem(redirectUri);
    if (problem) return this.#page(400, 'Sign-in refused', `${problem}. This link did not come from a Heimdall agent.`);
    if (query.get('client_id') !== AGENT_CLIENT_ID) return this.#page(400, 'Sign-in refused', `unknown client_id; Heimdall agents use "${AGENT_CLIENT_ID}"`);
    const state = query.get('state') ?? undefined;
    const back = (error: string, description: string): PageAnswer => {
      const u = new URL(redirectUri!);
      u.searchParams.set('error', error);
      u.searchParams.set('error_description', description);
      if (state !== undefined) u.searchParams.set('state', state);
      return { redirect: u.toString() };
    };
    if (query.get('response_type') !== 'code') return back('unsupported_response_type', 'response_type must be "code"');
    const challenge = query.get('code_challenge');
    if (query.get('code_challenge_method') !== 'S256' || !challenge || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      return back('invalid_request', 'PKCE is required: code_challenge (S256 of the verifier, base64url) and code_challenge_method=S256');
    }
    return this.#startOrChoose(query, authorizePath, { kind: 'agent', redirectUri: redirectUri!, codeChallenge: challenge, state });
  }

  /** GET /oauth/device: the code entry page, then the IdP. */
  async devicePage(query: URLSearchParams): Promise<PageAnswer> {
    const typed = query.get('user_code');
    if (typed === null) return { status: 200, html: deviceCodePage(OAUTH_DEVICE_PAGE_PATH, '') };
    const userCode = normaliseUserCode(typed);
    const deviceCode = this.#userCodes.get(userCode);
    const pending = typeof deviceCode === 'string' ? this.#devices.get(deviceCode) : undefined;
    if (typeof deviceCode !== 'string' || pending === undefined || pending === 'expired' || pending.status !== 'pending') {
      return { status: 400, html: deviceCodePage(OAUTH_DEVICE_PAGE_PATH, typed.slice(0, 16), 'That code is unknown or expired. Start again in your terminal (heimdall login --device-code).') };
    }
    return this.#startOrChoose(query, OAUTH_DEVICE_PAGE_PATH, { kind: 'device', deviceCode });
  }

  async #startOrChoose(query: URLSearchParams, path: string, target: Target): Promise<PageAnswer> {
    const providers = this.#federation.providers;
    const chosen = query.get('idp') ?? (providers.length === 1 ? providers[0]!.id : undefined);
    if (chosen === undefined) {
      return {
        status: 200,
        html: chooserPage(
          providers.map((p) => {
            const q = new URLSearchParams(query);
            q.set('idp', p.id);
            return { name: p.displayName, href: `${path}?${q.toString()}` };
          }),
        ),
      };
    }
    if (!this.#federation.provider(chosen)) return this.#page(400, 'Sign-in refused', `no identity provider "${chosen.slice(0, 40)}" is configured here`);
    const callbackUrl = this.#url(OAUTH_CALLBACK_PATH);
    try {
      const { url, checks } = await this.#federation.begin(chosen, callbackUrl);
      this.#signIns.set(checks.state, { providerId: chosen, checks, callbackUrl, target }, SSO_TIMING.signInTtlS * 1000);
      return { redirect: url.toString() };
    } catch (err) {
      return this.#idpFailure(err, target);
    }
  }

  /**
   * A sign-in that failed at or because of the IdP. The agent's loopback listener hears it (so
   * `heimdall login` stops waiting and prints why); a device-code sign-in, which has no listener,
   * gets a page.
   */
  #idpFailure(err: unknown, target: Target): PageAnswer {
    let answer: { status: number; error: 'temporarily_unavailable' | 'access_denied' | 'server_error'; title: string; message: string };
    if (err instanceof IdpUnavailableError) {
      this.#o.logger.warn({ reason: err.message }, 'identity provider unavailable during sign-in');
      answer = { status: 503, error: 'temporarily_unavailable', title: 'Your sign-in service is not answering', message: `${err.message}. Nothing is wrong with your account: try again in a minute.` };
    } else if (err instanceof IdpResponseError) {
      this.#o.logger.warn({ reason: err.message }, 'identity provider answer refused');
      answer = { status: 400, error: 'access_denied', title: 'Sign-in failed', message: `${err.message}. Start the sign-in again.` };
    } else {
      this.#o.logger.error({ err }, 'sign-in failed');
      answer = { status: 500, error: 'server_error', title: 'Sign-in failed', message: 'the gateway failed during the sign-in; see its log. Start the sign-in again.' };
    }
    if (target.kind === 'device') return this.#page(answer.status, answer.title, answer.message);
    return { redirect: agentRedirect(target, { error: answer.error, error_description: answer.message }) };
  }

  /** GET /oauth/callback: the IdP sends the person back here. */
  async callback(query: URLSearchParams): Promise<PageAnswer> {
    const state = query.get('state');
    const pending = state === null ? undefined : this.#signIns.take(state);
    if (pending === undefined || pending === 'expired') {
      return this.#page(400, 'Sign-in expired', 'this sign-in is unknown, already used or older than 10 minutes. Start it again (heimdall login).');
    }
    const currentUrl = new URL(pending.callbackUrl);
    currentUrl.search = query.toString();
    let person: Person;
    try {
      const identity = await this.#federation.complete(pending.providerId, currentUrl, pending.checks);
      person = await this.#admit(identity);
    } catch (err) {
      if (err instanceof SignInRefused) return this.#deny(pending.target, err.message);
      return this.#idpFailure(err, pending.target);
    }
    if (pending.target.kind === 'device') {
      const device = this.#devices.get(pending.target.deviceCode);
      if (device === undefined || device === 'expired') return this.#page(400, 'Sign-in expired', 'the device code expired meanwhile. Start again in your terminal.');
      device.status = 'approved';
      device.person = person;
      return { status: 200, html: donePage(person.email, true) };
    }
    const code = randomBytes(32).toString('base64url');
    this.#codes.set(code, { person, redirectUri: pending.target.redirectUri, codeChallenge: pending.target.codeChallenge }, SSO_TIMING.authorizationCodeTtlS * 1000);
    return { redirect: agentRedirect(pending.target, { code }) };
  }

  #deny(target: Target, reason: string): PageAnswer {
    this.#o.logger.warn({ reason }, 'sign-in refused');
    if (target.kind === 'device') {
      const device = this.#devices.get(target.deviceCode);
      if (device !== undefined && device !== 'expired') {
        device.status = 'denied';
        device.denial = reason;
      }
      return this.#page(403, 'Sign-in refused', reason);
    }
    return { redirect: agentRedirect(target, { error: 'access_denied', error_description: reason }) };
  }

  /** Allow-list, then the user record (created or updated), then the key they get. */
  async #admit(identity: { issuer: string; subject: string; email: string; name: string | null; groups: string[] }): Promise<Person> {
    const refused = allowListProblem(this.#o.config, identity);
    if (refused) throw new SignInRefused(refused);
    const user = await this.#recordUser(identity);
    this.#o.logger.info({ user_id: user.id, email: user.email, issuer: identity.issuer, groups: identity.groups.length }, 'person signed in at the IdP');
    if (user.disabledAt) throw new SignInRefused(`the Heimdall access of ${user.email} was disabled by an administrator; contact IT`);
    const key = await this.#keyOf(user);
    if (!key.ok) throw new SignInRefused(key.message);
    return { userId: user.id, email: user.email, name: user.name, keyId: key.keyId };
  }

  /** Creates or updates the gateway user of an IdP identity, and what the cache knows of them. */
  async #recordUser(identity: { issuer: string; subject: string; email: string; name: string | null; groups: string[] }): Promise<SsoUserRecord> {
    const { issuer, subject, email, name, groups } = identity;
    const user = await this.#o.store.upsertSsoUser({ issuer, subject, email, name, groups, newUserId: `usr_${randomUUID()}`, at: new Date(this.#o.clock.now()).toISOString() });
    this.#users.set(user.id, user);
    return user;
  }

  /** Called with a user's id when an administrator disables them (the console ends their sessions). */
  onUserDisabled(listener: (userId: string) => void): void {
    this.#disabledListeners.push(listener);
  }

  async #keyOf(user: SsoUserRecord): Promise<{ ok: true; keyId: string; virtualKey: string } | { ok: false; message: string }> {
    const choice = chooseKey(this.#o.config, user);
    if (choice.key === undefined) return { ok: false, message: choice.problem };
    const raw = choice.key.value.reveal();
    const identity = await this.#o.control.verifyVirtualKey(raw);
    if (!identity) return { ok: false, message: `the virtual key for your ${choice.source === 'group' ? 'group' : choice.source === 'assigned' ? 'account' : 'organization'} (${choice.key.reference}) is unknown to the gateway or revoked; contact IT` };
    return { ok: true, keyId: identity.keyId, virtualKey: raw };
  }

  // ---- device authorization (RFC 8628) -------------------------------------------------------------

  deviceAuthorization(form: URLSearchParams): DeviceAuthorizationResponse {
    if (form.get('client_id') !== AGENT_CLIENT_ID) throw new OAuthFailure(400, 'invalid_client', `unknown client_id; Heimdall agents use "${AGENT_CLIENT_ID}"`);
    const deviceCode = randomBytes(32).toString('base64url');
    let userCode = '';
    for (let i = 0; i < 8; i += 1) userCode += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
    const ttlMs = SSO_TIMING.deviceCodeTtlS * 1000;
    this.#devices.set(deviceCode, { userCode, intervalS: SSO_TIMING.deviceCodeIntervalS, lastPollAt: 0, status: 'pending' }, ttlMs);
    this.#userCodes.set(userCode, deviceCode, ttlMs);
    const shown = `${userCode.slice(0, 4)}-${userCode.slice(4)}`;
    const page = this.#url(OAUTH_DEVICE_PAGE_PATH);
    return {
      device_code: deviceCode,
      user_code: shown,
      verification_uri: page,
      verification_uri_complete: `${page}?user_code=${shown}`,
      expires_in: SSO_TIMING.deviceCodeTtlS,
      interval: SSO_TIMING.deviceCodeIntervalS,
    };
  }

  // ---- token endpoint -----------------------------------------------------------------------------

  async token(request: OAuthTokenRequest, proof: DeviceProofInput): Promise<OAuthTokenResponse> {
    switch (request.grant_type) {
      case 'authorization_code': {
        const code = this.#codes.take(request.code);
        if (code === undefined || code === 'expired') throw new OAuthFailure(400, 'invalid_grant', 'the authorization code is unknown, used or expired (60 s); sign in again');
        if (code.redirectUri !== request.redirect_uri) throw new OAuthFailure(400, 'invalid_grant', 'redirect_uri differs from the one the sign-in started with');
        if (base64urlSha256(request.code_verifier) !== code.codeChallenge) throw new OAuthFailure(400, 'invalid_grant', 'code_verifier does not match the code_challenge (PKCE)');
        return this.#signIn(code.person, request.os_user, request.device_enrollment, proof);
      }
      case DEVICE_CODE_GRANT: {
        const pending = this.#devices.get(request.device_code);
        if (pending === 'expired') throw new OAuthFailure(400, 'expired_token', 'the device code expired (10 minutes); start again');
        if (pending === undefined) throw new OAuthFailure(400, 'invalid_grant', 'unknown device code');
        const now = this.#o.clock.now();
        if (pending.status === 'pending') {
          const tooSoon = now - pending.lastPollAt < pending.intervalS * 1000;
          pending.lastPollAt = now;
          if (tooSoon) {
            pending.intervalS += 5;
            throw new OAuthFailure(400, 'slow_down', `poll at most every ${pending.intervalS} s`);
          }
          throw new OAuthFailure(400, 'authorization_pending', 'the person has not finished signing in yet');
        }
        if (pending.status === 'denied') {
          this.#devices.delete(request.device_code);
          throw new OAuthFailure(403, 'access_denied', pending.denial ?? 'the sign-in was refused');
        }
        const answer = await this.#signIn(pending.person!, request.os_user, request.device_enrollment, proof);
        // Used once; a failed device proof above leaves it for a retry with a fresh proof.
        this.#devices.delete(request.device_code);
        this.#userCodes.delete(pending.userCode);
        return answer;
      }
      case 'refresh_token':
        return this.#refresh(request.refresh_token, proof.deviceToken);
    }
  }

  /** The device a request's device token proves; OAuthFailure otherwise. */
  async #deviceOfToken(deviceToken: string | undefined): Promise<string> {
    if (deviceToken === undefined) throw new OAuthFailure(401, 'invalid_device', 'this request needs the device token of this device (x-heimdall-device-token)');
    const device = await this.#o.control.inferenceDevice(deviceToken);
    if (!device.ok) throw new OAuthFailure(device.status, device.status === 403 ? 'access_denied' : 'invalid_device', device.message);
    return device.deviceId;
  }

  async #signIn(person: Person, osUser: string, enrollmentText: string | undefined, proof: DeviceProofInput): Promise<OAuthTokenResponse> {
    const user = await this.#user(person.userId);
    if (!user || user.disabledAt) throw new OAuthFailure(403, 'access_denied', 'your Heimdall access was disabled by an administrator; contact IT');
    let deviceId: string;
    let enrolled: { device_token: string; token_expires_at: string } | undefined;
    if (proof.deviceToken !== undefined) {
      deviceId = await this.#deviceOfToken(proof.deviceToken);
      await this.#checkSeat(person.userId, deviceId);
    } else if (enrollmentText !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(enrollmentText);
      } catch {
        throw new OAuthFailure(400, 'invalid_request', 'device_enrollment is not valid JSON');
      }
      const parsed = deviceEnrollmentSchema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new OAuthFailure(400, 'invalid_request', `device_enrollment.${issue.path.map(String).join('.')}: ${issue.message}`);
      }
      // The seat is checked before the device is enrolled, so a refused device is not enrolled either.
      await this.#checkSeat(person.userId, parsed.data.device.device_id);
      try {
        const result = await this.#o.control.enrollDevice({ ...parsed.data, os_user: osUser }, { userId: person.userId, email: person.email, keyId: person.keyId });
        enrolled = result;
        deviceId = result.device_id;
      } catch (err) {
        if (!(err instanceof ControlError)) throw err;
        const [status, code]: [number, OAuthErrorCode] =
          err.code === 'revoked' ? [403, 'access_denied'] : err.code === 'unauthorized' ? [401, 'invalid_device'] : err.code === 'conflict' ? [409, 'invalid_device'] : [400, 'invalid_request'];
        throw new OAuthFailure(status, code, `device_enrollment${err.field ? `.${err.field}` : ''}: ${err.message}`);
      }
    } else {
      throw new OAuthFailure(401, 'invalid_device', 'prove the device: send its device token (x-heimdall-device-token) or, before its first enrollment, device_enrollment');
    }
    const at = new Date(this.#o.clock.now()).toISOString();
    await this.#o.store.signInSso({ deviceId, osUser, userId: person.userId, keyId: person.keyId, at });
    await this.#o.control.userSignedIn(person.userId);
    const familyId = `sid_${randomBytes(12).toString('base64url')}`;
    const refreshToken = newRefreshToken();
    await this.#o.store.createFamily({
      id: familyId,
      userId: person.userId,
      deviceId,
      osUser,
      at,
      absoluteExpiresAt: new Date(this.#o.clock.now() + SSO_TIMING.refreshAbsoluteS * 1000).toISOString(),
      tokenHash: hashSecret(refreshToken),
    });
    // createFamily ended this OS user's previous sign-in on the device, if any: forget what the
    // cache knew (sign-ins are rare; requests reload a family from the store once).
    this.#families.clear();
    this.#families.set(familyId, true);
    const access = await this.#o.tokens.issue({ userId: person.userId, email: person.email, deviceId, osUser, familyId });
    this.#o.logger.info({ user_id: person.userId, device_id: deviceId, os_user: osUser, family: familyId, enrolled: enrolled !== undefined }, 'signed in on a device');
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: refreshToken,
      heimdall_user: { id: person.userId, email: person.email, name: person.name },
      device_id: deviceId,
      ...(enrolled ? { device_token: enrolled.device_token, device_token_expires_at: enrolled.token_expires_at, control_url: proof.controlUrl } : {}),
    };
  }

  async #checkSeat(userId: string, deviceId: string): Promise<void> {
    const limit = this.#o.config.seatLimit;
    if (limit === undefined) return;
    const seats = await this.#o.store.ssoSeatDevices(userId);
    if (seats.includes(deviceId) || seats.length < limit) return;
    this.#o.logger.warn({ user_id: userId, device_id: deviceId, seats: seats.length, seat_limit: limit }, 'sign-in refused: device limit reached');
    throw new OAuthFailure(403, 'access_denied', 'Device limit reached — contact IT');
  }

  async #refresh(refreshToken: string, deviceToken: string | undefined): Promise<OAuthTokenResponse> {
    const deviceId = await this.#deviceOfToken(deviceToken);
    const oldHash = hashSecret(refreshToken);
    const found = refreshToken.startsWith(REFRESH_TOKEN_PREFIX) ? await this.#o.store.findRefreshToken(oldHash) : undefined;
    if (!found) throw new OAuthFailure(400, 'invalid_grant', 'unknown refresh token; sign in again (heimdall login)');
    const { family } = found;
    if (family.revokedAt) throw new OAuthFailure(400, 'invalid_grant', `this sign-in ended (${family.revokedReason ?? 'revoked'}); sign in again (heimdall login)`);
    if (found.rotatedAt) {
      // A token already exchanged came back: either holder may be a thief. End the sign-in for both.
      await this.#revoke({ familyId: family.id }, 'refresh_token_replayed');
      this.#o.logger.warn({ family: family.id, user_id: family.userId, device_id: deviceId }, 'a rotated refresh token was presented again: sign-in revoked');
      throw new OAuthFailure(400, 'invalid_grant', 'this refresh token was already used, so the sign-in was ended for safety; sign in again (heimdall login)');
    }
    if (family.deviceId !== deviceId) {
      // The refresh token left its device: it is stolen, or copied. It is bound to the device key.
      await this.#revoke({ familyId: family.id }, 'refresh_token_on_another_device');
      this.#o.logger.warn({ family: family.id, user_id: family.userId, device_id: deviceId, bound_device: family.deviceId }, 'a refresh token was presented by another device: sign-in revoked');
      throw new OAuthFailure(400, 'invalid_grant', 'this refresh token belongs to another device; the sign-in was ended for safety');
    }
    const now = this.#o.clock.now();
    if (Date.parse(family.absoluteExpiresAt) <= now || Date.parse(family.lastUsedAt) + SSO_TIMING.refreshIdleS * 1000 <= now) {
      await this.#revoke({ familyId: family.id }, 'expired');
      throw new OAuthFailure(400, 'invalid_grant', 'this sign-in expired; sign in again (heimdall login)');
    }
    const user = await this.#user(family.userId);
    if (!user || user.disabledAt) throw new OAuthFailure(400, 'invalid_grant', 'your Heimdall access was disabled by an administrator; contact IT');
    const key = await this.#keyOf(user);
    if (!key.ok) throw new OAuthFailure(403, 'access_denied', key.message);
    const next = newRefreshToken();
    if (!(await this.#o.store.rotateRefreshToken({ oldHash, newHash: hashSecret(next), familyId: family.id, at: new Date(now).toISOString() }))) {
      await this.#revoke({ familyId: family.id }, 'refresh_token_replayed');
      throw new OAuthFailure(400, 'invalid_grant', 'this refresh token was already used, so the sign-in was ended for safety; sign in again (heimdall login)');
    }
    const access = await this.#o.tokens.issue({ userId: user.id, email: user.email, deviceId, osUser: family.osUser, familyId: family.id });
    return {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_token: next,
      heimdall_user: { id: user.id, email: user.email, name: user.name },
      device_id: deviceId,
    };
  }

  /** POST /oauth/revoke (RFC 7009): ends the sign-in of a refresh token held by this device (logout). */
  async revokeToken(token: string | null, deviceToken: string | undefined): Promise<void> {
    const deviceId = await this.#deviceOfToken(deviceToken);
    if (token === null || !token.startsWith(REFRESH_TOKEN_PREFIX)) return;
    const found = await this.#o.store.findRefreshToken(hashSecret(token));
    // Another device's token is not this device's to revoke (RFC 7009: answer 200 all the same).
    if (!found || found.family.deviceId !== deviceId) return;
    await this.#revoke({ familyId: found.family.id }, 'logout');
    await this.#o.store.signOutSso(deviceId, found.family.osUser, found.family.userId);
    this.#o.logger.info({ family: found.family.id, user_id: found.family.userId, device_id: deviceId }, 'signed out');
  }

  async #revoke(where: { familyId?: string; userId?: string; deviceId?: string }, reason: string): Promise<void> {
    const revoked = await this.#o.store.revokeFamilies(where, reason, new Date(this.#o.clock.now()).toISOString());
    // The other replicas' caches of these sign-ins (and the inference credential cache) must drop them.
    if (revoked.length > 0) await this.#o.control.credentialsChanged();
    for (const f of revoked) this.#families.set(f.id, false);
  }

  // ---- inference: what a user token buys ---------------------------------------------------------

  async #user(id: string): Promise<SsoUserRecord | undefined> {
    const cached = this.#users.get(id);
    if (cached) return cached;
    const user = await this.#o.store.getSsoUser(id);
    if (user) this.#users.set(id, user);
    return user;
  }

  async #familyLive(id: string): Promise<boolean> {
    const known = this.#families.get(id);
    if (known !== undefined) return known;
    const family = await this.#o.store.getFamily(id);
    const live = family !== undefined && family.revokedAt === null;
    this.#families.set(id, live);
    return live;
  }

  /** The person an inference request's user token names, on the device its device token proved. */
  async personForRequest(userToken: string, deviceId: string): Promise<RequestPerson> {
    const claims = await this.#o.tokens.verify(userToken);
    if (!claims) return { ok: false, status: 401, message: 'your Heimdall sign-in token is expired or not valid; the agent renews it by itself (if this persists, run `heimdall login`)' };
    if (claims.did !== deviceId) return { ok: false, status: 401, message: 'this sign-in token was issued to another device' };
    if (!(await this.#familyLive(claims.sid))) return { ok: false, status: 401, message: 'you were signed out of Heimdall on this device; run `heimdall login`' };
    const user = await this.#user(claims.sub);
    if (!user || user.disabledAt) return { ok: false, status: 403, message: 'your Heimdall access was disabled by an administrator; contact IT' };
    const key = await this.#keyOf(user);
    if (!key.ok) return { ok: false, status: 403, message: key.message };
    return { ok: true, userId: user.id, email: user.email, keyId: key.keyId, virtualKey: key.virtualKey };
  }

  /** What a request from a device without a user token gets (the `unattributed` setting). */
  async unattributed(): Promise<UnattributedAnswer> {
    if (this.#o.config.unattributed === 'block') return { mode: 'block' };
    const ref = this.#o.config.unattributedKey!;
    const identity = await this.#o.control.verifyVirtualKey(ref.value.reveal());
    if (!identity) return { mode: 'unavailable', message: `the organization's key for unattributed requests (${ref.reference}) is unknown to the gateway or revoked; contact IT` };
    return { mode: 'device', keyId: identity.keyId, virtualKey: ref.value.reveal() };
  }

  // ---- administration ------------------------------------------------------------------------------

  listUsers(): Promise<SsoUserRecord[]> {
    return this.#o.store.listSsoUsers();
  }

  async #requireUser(idOrEmail: string): Promise<SsoUserRecord> {
    const found = await this.#o.store.findUser(idOrEmail);
    const user = found ? await this.#o.store.getSsoUser(found.id) : undefined;
    if (!user) throw new ControlError('not_found', `no user ${JSON.stringify(idOrEmail)}; users list (GET /admin/v1/users) shows them`, 'user');
    return user;
  }

  /** Disables (or enables) a person: every sign-in of theirs ends now and no new one starts. */
  async setDisabled(idOrEmail: string, disabled: boolean): Promise<SsoUserRecord> {
    const user = await this.#requireUser(idOrEmail);
    await this.#o.store.setUserDisabled(user.id, disabled ? new Date(this.#o.clock.now()).toISOString() : null);
    if (disabled) {
      await this.#revoke({ userId: user.id }, 'user_disabled');
      await this.#o.store.signOutSsoUser(user.id);
      await this.#o.control.credentialsChanged();
      for (const listener of this.#disabledListeners) listener(user.id);
    }
    this.#users.delete(user.id);
    this.#o.logger.warn({ user_id: user.id, email: user.email, disabled }, disabled ? 'user disabled: signed out everywhere' : 'user enabled');
    return (await this.#o.store.getSsoUser(user.id))!;
  }

  /** Assigns an `env.NAME` virtual key to a person (null: back to the group mapping). */
  async assignKey(idOrEmail: string, reference: string | null): Promise<SsoUserRecord> {
    const user = await this.#requireUser(idOrEmail);
    if (reference !== null) {
      const key = this.#o.config.resolveReference(reference);
      if (!key) throw new ControlError('invalid', `${reference} is not set in the gateway's environment; set it (to the virtual key) and restart the gateway first`, 'virtual_key');
      if (!(await this.#o.control.verifyVirtualKey(key.value.reveal()))) throw new ControlError('invalid', `the key in ${reference} is unknown to the gateway or revoked (create it with heimdall-gateway keys create)`, 'virtual_key');
    }
    await this.#o.store.assignVirtualKey(user.id, reference);
    this.#users.delete(user.id);
    this.#o.logger.info({ user_id: user.id, email: user.email, virtual_key: reference }, 'virtual key assigned');
    return (await this.#o.store.getSsoUser(user.id))!;
  }

  /** The key a person gets now, as the admin API shows it (the reference, never the value). */
  keyReferenceOf(user: SsoUserRecord): { virtual_key: string | null; source: string | null } {
    const choice = chooseKey(this.#o.config, user);
    return choice.key ? { virtual_key: choice.key.reference, source: choice.source } : { virtual_key: null, source: null };
  }
}

class SignInRefused extends Error {
  override name = 'SignInRefused';
}

/** The agent's (checked) loopback redirect with these parameters and its state. */
function agentRedirect(target: Extract<Target, { kind: 'agent' }>, params: Record<string, string>): string {
  const back = new URL(target.redirectUri);
  for (const [k, v] of Object.entries(params)) back.searchParams.set(k, v);
  if (target.state !== undefined) back.searchParams.set('state', target.state);
  return back.toString();
}

function newRefreshToken(): string {
  return `${REFRESH_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** `bcdf-ghjk`, `BCDF GHJK` -> `BCDFGHJK`. */
function normaliseUserCode(typed: string): string {
  return typed.toUpperCase().replace(/[^A-Z]/g, '').slice(0, 8);
}
