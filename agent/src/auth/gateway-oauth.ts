// The agent's side of the gateway as OAuth 2.0 authorization server for native apps (docs/protocol.md,
// "Sign-in"): discovery (RFC 8414), the code exchange of a PKCE loopback sign-in (RFC 8252), the
// device authorization grant (RFC 8628), refresh and revocation. Only the daemon calls these: the
// PKCE verifier, the codes' results and every token stay in it. Errors name the endpoint, the
// status and the RFC 6749 error code, never a token or a code.
import type tls from 'node:tls';
import type { z } from 'zod';
import {
  AGENT_CLIENT_ID,
  DEVICE_CODE_GRANT,
  DEVICE_TOKEN_HEADER,
  OAUTH_METADATA_PATH,
  authorizationServerMetadataSchema,
  deviceAuthorizationResponseSchema,
  oauthTokenResponseSchema,
} from '../../../protocol/index.ts';
import { controlEndpoint, describeUrl } from './control-url.ts';
import { LoginError } from './errors.ts';
import { requestJson, TransportError } from './post-json.ts';
import type { GatewayUser, TokenSet } from './user-tokens.ts';

export const CLIENT_ID = AGENT_CLIENT_ID;
export const DISCOVERY_PATH = OAUTH_METADATA_PATH;
const MAX_REPLY_BYTES = 64 * 1024;

export interface OAuthOptions {
  controlUrl: string;
  timeoutMs?: number | undefined;
  ca?: string | undefined;
  secureContext?: tls.SecureContext | undefined;
  allowInsecure?: boolean | undefined;
  now?: () => number;
}

export interface Discovery {
  authorizationEndpoint: URL;
  tokenEndpoint: URL;
  deviceAuthorizationEndpoint: URL;
  revocationEndpoint: URL;
  ssoEnabled: boolean;
  virtualKeyLogin: boolean;
}

/** How the device proves itself to the sign-in grants: its token, or a first enrollment's proof. */
export type DeviceProof = { deviceToken: string } | { enrollment: unknown };

export interface SignInResult {
  tokens: TokenSet;
  user: GatewayUser;
  deviceId: string;
  /** Present when this sign-in enrolled the device. */
  enrolled?: { deviceToken: string; expiresAt: string; connectUrl: string | undefined };
}

const discoverySchema = authorizationServerMetadataSchema;
const tokenSchema = oauthTokenResponseSchema;
const deviceAuthorizationSchema = deviceAuthorizationResponseSchema;
export type DeviceAuthorization = z.infer<typeof deviceAuthorizationSchema>;

// RFC 6749 error codes are short machine words; anything else is not repeated to a person.
const OAUTH_CODE = /^[a-z][a-z0-9_]{0,63}$/;

function oauthError(body: unknown): { code: string | undefined; description: string | undefined } {
  const b = body as { error?: unknown; error_description?: unknown } | undefined;
  const code = typeof b?.error === 'string' && OAUTH_CODE.test(b.error) ? b.error : undefined;
  // The description is the gateway's sentence for a person ("Device limit reached — contact IT"); bounded, one line.
  const description = typeof b?.error_description === 'string' ? b.error_description.replace(/[\r\n\t]+/g, ' ').slice(0, 200) : undefined;
  return { code, description };
}

/** One call to a gateway endpoint; LoginError('unreachable') when it cannot be reached. */
async function call(url: URL, o: OAuthOptions, method: 'GET' | 'POST', form?: Record<string, string>, headers?: Record<string, string>) {
  const where = describeUrl(url);
  try {
    const reply = await requestJson(
      url,
      form ? { method, body: Buffer.from(new URLSearchParams(form).toString()), contentType: 'application/x-www-form-urlencoded', ...(headers ? { headers } : {}) } : { method, ...(headers ? { headers } : {}) },
      { timeoutMs: o.timeoutMs ?? 15_000, maxResponseBytes: MAX_REPLY_BYTES, ca: o.ca, secureContext: o.secureContext },
    );
    return { ...reply, where };
  } catch (err) {
    const reason = err instanceof TransportError ? err.message : 'request failed';
    throw new LoginError('unreachable', `cannot reach the gateway at ${where}: ${reason}`);
  }
}

/** An endpoint the discovery named, refused unless it lies under the configured control_url's origin. */
function sameOrigin(raw: string, control: URL, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new LoginError('bad_response', `the gateway's discovery names a ${name} that is not a URL`);
  }
  if (url.origin !== control.origin) {
    // Codes and tokens would go to another host than the one the organization configured.
    throw new LoginError('bad_response', `the gateway's discovery names a ${name} on ${url.origin}, not on the control_url ${control.origin}; refusing`);
  }
  // Same origin as control_url, which controlEndpoint already held to https (or loopback http).
  return url;
}

export async function discover(o: OAuthOptions): Promise<Discovery> {
  const url = controlEndpoint(o.controlUrl, DISCOVERY_PATH, { allowInsecure: o.allowInsecure ?? false });
  const reply = await call(url, o, 'GET');
  if (reply.status === 404) throw new LoginError('gateway_error', `the gateway at ${reply.where} does not offer sign-in (HTTP 404): it predates single sign-on; ask IT to upgrade it, or use \`heimdall login --virtual-key\``, { status: 404 });
  const parsed = discoverySchema.safeParse(reply.body);
  if (reply.status !== 200 || !parsed.success) throw new LoginError('gateway_error', `sign-in discovery at ${reply.where} failed: HTTP ${reply.status}`, { status: reply.status });
  const control = new URL(o.controlUrl);
  const d = parsed.data;
  return {
    authorizationEndpoint: sameOrigin(d.authorization_endpoint, control, 'authorization_endpoint'),
    tokenEndpoint: sameOrigin(d.token_endpoint, control, 'token_endpoint'),
    deviceAuthorizationEndpoint: sameOrigin(d.device_authorization_endpoint, control, 'device_authorization_endpoint'),
    revocationEndpoint: sameOrigin(d.revocation_endpoint, control, 'revocation_endpoint'),
    ssoEnabled: d.heimdall_sso_enabled,
    virtualKeyLogin: d.heimdall_virtual_key_login,
  };
}

/** The authorize URL a browser opens for a PKCE loopback sign-in. */
export function authorizeUrl(d: Discovery, input: { redirectUri: string; codeChallenge: string; state: string }): string {
  const url = new URL(d.authorizationEndpoint);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', CLIENT_ID);
  url.searchParams.set('redirect_uri', input.redirectUri);
  url.searchParams.set('code_challenge', input.codeChallenge);
  url.searchParams.set('code_challenge_method', 'S256');
  url.searchParams.set('state', input.state);
  return url.href;
}

function proofParts(proof: DeviceProof): { form: Record<string, string>; headers: Record<string, string> } {
  return 'deviceToken' in proof ? { form: {}, headers: { [DEVICE_TOKEN_HEADER]: proof.deviceToken } } : { form: { device_enrollment: JSON.stringify(proof.enrollment) }, headers: {} };
}

function tokenResult(body: unknown, where: string, now: number): SignInResult & { raw: z.infer<typeof tokenSchema> } {
  const parsed = tokenSchema.safeParse(body);
  if (!parsed.success) throw new LoginError('bad_response', `the gateway at ${where} answered with a body that is not a token reply`);
  const t = parsed.data;
  const user: GatewayUser = { id: t.heimdall_user.id, email: t.heimdall_user.email, name: t.heimdall_user.name ?? undefined };
  return {
    raw: t,
    tokens: { accessToken: t.access_token, accessExpiresAt: now + t.expires_in * 1000, refreshToken: t.refresh_token },
    user,
    deviceId: t.device_id,
    ...(t.device_token !== undefined && t.device_token_expires_at !== undefined
      ? { enrolled: { deviceToken: t.device_token, expiresAt: t.device_token_expires_at, connectUrl: t.control_url || undefined } }
      : {}),
  };
}

/** The sentence for a refused token request, with the gateway's own description when it gave one. */
function refusal(where: string, status: number, body: unknown, what: string): LoginError {
  const { code, description } = oauthError(body);
  const detail = `${description ?? code ?? `HTTP ${status}`}`;
  const kind = status >= 500 ? 'gateway_error' : status === 400 && code !== 'invalid_grant' && code !== 'access_denied' ? 'gateway_error' : 'rejected';
  return new LoginError(kind, `${what} refused by ${where}: ${detail}`, { status, ...(code ? { gatewayCode: code } : {}) });
}

async function tokenRequest(d: Discovery, o: OAuthOptions, form: Record<string, string>, proof: DeviceProof | undefined) {
  const parts = proof ? proofParts(proof) : { form: {}, headers: {} };
  const reply = await call(d.tokenEndpoint, o, 'POST', { ...form, ...parts.form, client_id: CLIENT_ID }, parts.headers);
  return reply;
}

export async function exchangeCode(d: Discovery, o: OAuthOptions, input: { code: string; redirectUri: string; verifier: string; osUser: string; proof: DeviceProof }): Promise<SignInResult> {
  const reply = await tokenRequest(d, o, { grant_type: 'authorization_code', code: input.code, redirect_uri: input.redirectUri, code_verifier: input.verifier, os_user: input.osUser }, input.proof);
  if (reply.status !== 200) throw refusal(reply.where, reply.status, reply.body, 'sign-in');
  return tokenResult(reply.body, reply.where, (o.now ?? Date.now)());
}

export async function startDeviceAuthorization(d: Discovery, o: OAuthOptions): Promise<DeviceAuthorization> {
  const reply = await call(d.deviceAuthorizationEndpoint, o, 'POST', { client_id: CLIENT_ID });
  const parsed = deviceAuthorizationSchema.safeParse(reply.body);
  if (reply.status !== 200 || !parsed.success) throw refusal(reply.where, reply.status, reply.body, 'device sign-in');
  return parsed.data;
}

export type DevicePoll = { state: 'done'; result: SignInResult } | { state: 'pending'; slowDown: boolean };

export async function pollDeviceCode(d: Discovery, o: OAuthOptions, input: { deviceCode: string; osUser: string; proof: DeviceProof }): Promise<DevicePoll> {
  const reply = await tokenRequest(d, o, { grant_type: DEVICE_CODE_GRANT, device_code: input.deviceCode, os_user: input.osUser }, input.proof);
  if (reply.status === 200) return { state: 'done', result: tokenResult(reply.body, reply.where, (o.now ?? Date.now)()) };
  const { code } = oauthError(reply.body);
  if (code === 'authorization_pending') return { state: 'pending', slowDown: false };
  if (code === 'slow_down') return { state: 'pending', slowDown: true };
  if (code === 'expired_token') throw new LoginError('rejected', 'the device code expired before the sign-in was completed: run `heimdall login --device-code` again', { status: reply.status, gatewayCode: code });
  throw refusal(reply.where, reply.status, reply.body, 'device sign-in');
}

export async function refreshTokens(d: Discovery, o: OAuthOptions, input: { refreshToken: string; deviceToken: string }): Promise<TokenSet> {
  const reply = await tokenRequest(d, o, { grant_type: 'refresh_token', refresh_token: input.refreshToken }, { deviceToken: input.deviceToken });
  if (reply.status !== 200) throw refusal(reply.where, reply.status, reply.body, 'token refresh');
  return tokenResult(reply.body, reply.where, (o.now ?? Date.now)()).tokens;
}

/** Revokes the refresh family; resolves whatever the gateway says (a logout never fails locally). */
export async function revokeRefreshToken(d: Discovery, o: OAuthOptions, input: { refreshToken: string; deviceToken: string | undefined }): Promise<{ revoked: boolean; detail: string }> {
  const reply = await call(d.revocationEndpoint, o, 'POST', { token: input.refreshToken, token_type_hint: 'refresh_token', client_id: CLIENT_ID }, input.deviceToken ? { [DEVICE_TOKEN_HEADER]: input.deviceToken } : {});
  return { revoked: reply.status === 200, detail: `HTTP ${reply.status}` };
}
