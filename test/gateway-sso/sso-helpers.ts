// The agent's side of SSO for gateway tests, spoken over HTTP as an agent would: PKCE, the loopback
// authorize URL, the token endpoint's grants with a device token or a first enrollment, and a
// gateway child process whose virtual keys (group keys, the default) were made by an earlier run.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_CLIENT_ID, DEVICE_TOKEN_HEADER, OAUTH_AUTHORIZE_PATH, OAUTH_TOKEN_PATH } from '../../protocol/index.ts';
import { startGatewayChild, type GatewayChild } from '../gateway/process.ts';
import { deviceKeyFor, signedChallenge, type TestDeviceKey } from '../gateway/helpers.ts';
import { signInWithPassword, type TestIdp } from '../helpers/oidc-idp.ts';

export const IDP_CLIENT_ID = 'heimdall-gateway';
export const IDP_CLIENT_SECRET = 'idp-client-secret-Zq9vX3kP0rW7';
/** Registered at the IdP as a native client: any port of the gateway on 127.0.0.1 matches. */
export const IDP_REDIRECT = 'http://127.0.0.1/oauth/callback';
export const AGENT_REDIRECT = 'http://127.0.0.1:49999/callback';

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeUrl(gw: { url: string }, challenge: string, state = 'agent-state-1', redirectUri = AGENT_REDIRECT, idpId?: string): string {
  const q = new URLSearchParams({ response_type: 'code', client_id: AGENT_CLIENT_ID, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: 'S256', state });
  // With several IdPs the person picks one on the gateway's chooser; a test names it instead.
  if (idpId !== undefined) q.set('idp', idpId);
  return `${gw.url}${OAUTH_AUTHORIZE_PATH}?${q.toString()}`;
}

export async function tokenRequest(gw: { url: string }, form: Record<string, string>, deviceToken?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${gw.url}${OAUTH_TOKEN_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(deviceToken ? { [DEVICE_TOKEN_HEADER]: deviceToken } : {}) },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: await res.json() };
}

/** The form field of a first sign-in on a device: its facts and its key's signature of a fresh challenge. */
export async function deviceEnrollment(gw: { url: string }, deviceId: string, key: TestDeviceKey = deviceKeyFor(deviceId)): Promise<string> {
  const proof = await signedChallenge(gw, 'enroll', deviceId, key);
  return JSON.stringify({ device: { device_id: deviceId, hostname: `${deviceId}-host`, os: 'linux' }, device_key: { public_key: key.publicKey, ...proof } });
}

/** A person signs in in the browser; the agent's loopback redirect receives this. */
export async function browserCode(gw: { url: string }, idp: TestIdp, user: { username: string; password: string }, challenge: string, idpId?: string): Promise<URL> {
  const result = await signInWithPassword(authorizeUrl(gw, challenge, 'agent-state-1', AGENT_REDIRECT, idpId), user, { follow: [gw.url, idp.issuer] });
  if (!result.redirect) throw new Error(`the sign-in ended on a page (${result.final.status}): ${result.body.slice(0, 400)}`);
  return result.redirect;
}

/** A whole desktop sign-in: browser, then the code exchanged with a device proof. */
export async function signIn(
  gw: { url: string },
  idp: TestIdp,
  user: { username: string; password: string },
  deviceId: string,
  options: { osUser?: string; deviceToken?: string; idpId?: string } = {},
): Promise<{ status: number; body: any }> {
  const { verifier, challenge } = pkce();
  const back = await browserCode(gw, idp, user, challenge, options.idpId);
  const code = back.searchParams.get('code');
  if (!code) return { status: 0, body: Object.fromEntries(back.searchParams) };
  const form: Record<string, string> = { grant_type: 'authorization_code', client_id: AGENT_CLIENT_ID, code, redirect_uri: AGENT_REDIRECT, code_verifier: verifier, os_user: options.osUser ?? 'alice' };
  if (!options.deviceToken) form['device_enrollment'] = await deviceEnrollment(gw, deviceId);
  return tokenRequest(gw, form, options.deviceToken);
}

export interface SsoGateway {
  gw: GatewayChild;
  keys: { eng: { id: string; key: string }; fallback: { id: string; key: string }; unattributed: { id: string; key: string } };
  stop(): Promise<void>;
}

/**
 * Starts a gateway once to make the organization's virtual keys (as an administrator would, with
 * `keys create`), then again with SSO configured and those keys in its environment.
 */
export async function startSsoGateway(idp: TestIdp, sso: Record<string, unknown>, extra: { config?: Record<string, unknown>; env?: Record<string, string> } = {}): Promise<SsoGateway> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-sso-'));
  const first = await startGatewayChild({ dataDir });
  const make = async (email: string) => (await first.admin('POST', 'keys', { user_email: email, name: email.split('@')[0] })).body as { id: string; key: string };
  const keys = { eng: await make('engineering-team@example.com'), fallback: await make('everyone@example.com'), unattributed: await make('unattributed@example.com') };
  await first.stop();
  const gw = await startGatewayChild({
    dataDir,
    config: {
      ...extra.config,
      sso: {
        providers: [{ id: 'corp', display_name: 'Example Corp', issuer: idp.issuer, client_id: IDP_CLIENT_ID, client_secret: 'env.IDP_CLIENT_SECRET', scopes: ['openid', 'email', 'profile', 'groups'] }],
        group_keys: [{ group: 'engineering', virtual_key: 'env.VK_ENG' }],
        default_virtual_key: 'env.VK_DEFAULT',
        ...sso,
      },
    },
    env: { IDP_CLIENT_SECRET, VK_ENG: keys.eng.key, VK_DEFAULT: keys.fallback.key, VK_UNATTRIBUTED: keys.unattributed.key, ...extra.env },
  });
  return {
    gw,
    keys,
    stop: async () => {
      await gw.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
