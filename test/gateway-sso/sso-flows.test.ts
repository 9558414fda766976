// SSO end to end on the gateway (issue 18): a real heimdall-gateway process federating to a real
// OpenID Provider (oidc-provider, test/helpers/oidc-idp.ts) whose login form is filled over HTTP;
// each attack is written so that a naive implementation would let it through.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import {
  AGENT_CLIENT_ID,
  DEVICE_CODE_GRANT,
  DEVICE_TOKEN_HEADER,
  OAUTH_DEVICE_AUTHORIZATION_PATH,
  OAUTH_METADATA_PATH,
  OAUTH_REVOKE_PATH,
  USER_TOKEN_HEADER,
  oauthTokenResponseSchema,
} from '../../protocol/index.ts';
import { DEFAULT_IDP_USERS, signInWithPassword, TestIdp } from '../helpers/oidc-idp.ts';
import { GATEWAY_BIN } from '../gateway/process.ts';
import { AGENT_REDIRECT, authorizeUrl, browserCode, IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT, pkce, signIn, startSsoGateway, tokenRequest, type SsoGateway } from './sso-helpers.ts';

const PROVIDER_KEY = 'sk-demo-org-key';
const ALICE = { username: 'alice', password: 'alice-Pa55word' };
const BOB = { username: 'bob', password: 'bob-Pa55word' };
const MALLORY = { username: 'mallory', password: 'mallory-Pa55word' };

// One person per test where seats matter (seat_limit is 2 here): p1@example.com, p2@..., engineers.
const PEOPLE = Array.from({ length: 12 }, (_, i) => ({ username: `p${i + 1}`, password: `p${i + 1}-Pa55word`, email: `p${i + 1}@example.com`, name: `Person ${i + 1}`, groups: ['engineering'] }));
const person = (n: number) => ({ username: `p${n}`, password: `p${n}-Pa55word` });
const idp = new TestIdp({ users: [...DEFAULT_IDP_USERS, ...PEOPLE], clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_CLIENT_SECRET, redirectUris: [IDP_REDIRECT], applicationType: 'native' }] });
let upstream: DemoUpstream;
let sso: SsoGateway;
/** Every refresh and access token handed out, to look for in the log at the end. */
const issued: string[] = [];

beforeAll(async () => {
  await idp.start();
  upstream = await startDemoUpstream({ keys: { openai: [PROVIDER_KEY] }, chunkDelayMs: 0 });
  sso = await startSsoGateway(
    idp,
    { allow: { email_domains: ['example.com'] }, seat_limit: 2, unattributed: 'block' },
    { config: { inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.HEIMDALL_TEST_OPENAI_KEY' } } } }, env: { HEIMDALL_TEST_OPENAI_KEY: PROVIDER_KEY } },
  );
}, 60_000);
afterAll(async () => {
  await sso?.stop();
  await upstream?.close();
  await idp.stop();
});

const gw = () => sso.gw;

function keep(body: any): any {
  if (typeof body?.access_token === 'string') issued.push(body.access_token);
  if (typeof body?.refresh_token === 'string') issued.push(body.refresh_token);
  return body;
}

async function signedIn(user: typeof ALICE, deviceId: string, osUser = 'alice'): Promise<any> {
  const r = await signIn(gw(), idp, user, deviceId, { osUser });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return keep(r.body);
}

const chat = (headers: Record<string, string>) =>
  fetch(`${gw().url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (res) => ({ status: res.status, body: await res.text() }));

const asPerson = (t: { device_token: string; access_token: string }) => ({ [DEVICE_TOKEN_HEADER]: t.device_token, [USER_TOKEN_HEADER]: t.access_token });

async function lastInference(deviceId: string): Promise<any> {
  const events = (await gw().admin('GET', `events?type=inference&device=${deviceId}&limit=1`)).body.events;
  return events[0];
}

const refresh = (refreshToken: string, deviceToken: string | undefined) =>
  tokenRequest(gw(), { grant_type: 'refresh_token', client_id: AGENT_CLIENT_ID, refresh_token: refreshToken }, deviceToken).then((r) => ({ ...r, body: keep(r.body) }));

describe('SSO on the gateway', () => {
  it('discovery names the endpoints and the sign-ins the organization offers', async () => {
    const meta = (await (await fetch(`${gw().url}${OAUTH_METADATA_PATH}`)).json()) as any;
    expect(meta.issuer).toBe(gw().url);
    expect(meta.token_endpoint).toBe(`${gw().url}/oauth/token`);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.heimdall_sso_enabled).toBe(true);
    expect(meta.heimdall_virtual_key_login).toBe(true);
  });

  it('signs alice in (code + PKCE, loopback redirect), enrolls the device with that sign-in, and her requests arrive as her under her group key', async () => {
    const t = await signedIn(ALICE, 'dev-a1');
    expect(oauthTokenResponseSchema.parse(t).heimdall_user.email).toBe('alice@example.com');
    expect(t.device_id).toBe('dev-a1');
    expect(t.device_token).toMatch(/^hdt_/);
    expect(t.refresh_token).toMatch(/^hrt_/);
    const r = await chat(asPerson(t));
    expect(r.status, r.body).toBe(200);
    const event = await lastInference('dev-a1');
    expect(event.user_email).toBe('alice@example.com');
    expect(event.attrs.key_id).toBe(sso.keys.eng.id);
    // The gateway knows her from the IdP: subject, groups, the key her group maps to (a reference only).
    const users = (await gw().admin('GET', 'users')).body.users;
    const alice = users.find((u: any) => u.email === 'alice@example.com');
    expect(alice).toMatchObject({ name: 'Alice Example', groups: ['engineering'], virtual_key: 'env.VK_ENG', source: 'group' });
    expect(JSON.stringify(users)).not.toContain(sso.keys.eng.key);
    // Her sign-in enrolled the device: she is its owner, as with a virtual key.
    const device = (await gw().admin('GET', 'devices/dev-a1')).body;
    expect(device.owner.email).toBe('alice@example.com');
  });

  it('maps groups to keys (first match, else the default) and lets an administrator assign one', async () => {
    const t = await signedIn(BOB, 'dev-b1', 'bob');
    expect((await chat(asPerson(t))).status).toBe(200);
    expect((await lastInference('dev-b1')).attrs.key_id).toBe(sso.keys.fallback.id);
    const assigned = await gw().admin('PUT', 'users/bob@example.com/virtual-key', { virtual_key: 'env.VK_ENG' });
    expect(assigned.status, JSON.stringify(assigned.body)).toBe(200);
    expect(assigned.body).toMatchObject({ assigned_virtual_key: 'env.VK_ENG', virtual_key: 'env.VK_ENG', source: 'assigned' });
    // Resolved on the server for the very next request: the device holds no key to change.
    expect((await chat(asPerson(t))).status).toBe(200);
    expect((await lastInference('dev-b1')).attrs.key_id).toBe(sso.keys.eng.id);
    const bad = await gw().admin('PUT', 'users/bob@example.com/virtual-key', { virtual_key: 'env.NOT_SET_ANYWHERE' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('NOT_SET_ANYWHERE');
    expect((await gw().admin('PUT', 'users/bob@example.com/virtual-key', { virtual_key: null })).body.source).toBe('default');
  });

  it('refuses a person outside the allow-list: the agent gets access_denied, never a code', async () => {
    const { challenge } = pkce();
    const back = await browserCode(gw(), idp, MALLORY, challenge);
    expect(back.origin + back.pathname).toBe(AGENT_REDIRECT);
    expect(back.searchParams.get('code')).toBeNull();
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toContain('not allowed to use Heimdall');
    expect(back.searchParams.get('state')).toBe('agent-state-1');
    // The IdP did vouch for her (a naive gateway would have let the IdP's word be enough).
    expect(idp.logins).toContain('mallory');
    expect((await gw().admin('GET', 'users')).body.users.some((u: any) => u.email === 'mallory@evil.test')).toBe(false);
  });

  it('refuses a redirect_uri that is not loopback with a page, never a redirect', async () => {
    for (const target of ['https://evil.example/cb', 'http://evil.example:8080/cb', 'http://127.0.0.1.evil.example/cb', 'http://user:pw@127.0.0.1:5/cb']) {
      const res = await fetch(authorizeUrl(gw(), pkce().challenge, 's', target), { redirect: 'manual' });
      expect(res.status, target).toBe(400);
      expect(res.headers.get('location'), target).toBeNull();
      expect(await res.text()).toContain('redirect_uri');
    }
  });

  it('refuses a code redeemed twice, or with another verifier, or another redirect_uri', async () => {
    const { verifier, challenge } = pkce();
    const code = (await browserCode(gw(), idp, ALICE, challenge)).searchParams.get('code')!;
    const base = { grant_type: 'authorization_code', client_id: AGENT_CLIENT_ID, code, os_user: 'alice' };
    const first = await tokenRequest(gw(), { ...base, redirect_uri: AGENT_REDIRECT, code_verifier: pkce().verifier });
    expect(first.body.error).toBe('invalid_grant');
    // Single use: the failed attempt above consumed it, so even the right verifier no longer works.
    const second = await tokenRequest(gw(), { ...base, redirect_uri: AGENT_REDIRECT, code_verifier: verifier });
    expect(second.body.error).toBe('invalid_grant');
  });

  it('completes the device-code flow from a second process while the person signs in on a browser', async () => {
    const start = await fetch(`${gw().url}${OAUTH_DEVICE_AUTHORIZATION_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: AGENT_CLIENT_ID }).toString(),
    });
    const auth = (await start.json()) as any;
    expect(auth.user_code).toMatch(/^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/);
    const device = await signedIn(ALICE, 'dev-dc');
    const poll = () => tokenRequest(gw(), { grant_type: DEVICE_CODE_GRANT, client_id: AGENT_CLIENT_ID, device_code: auth.device_code, os_user: 'alice' }, device.device_token);
    expect((await poll()).body.error).toBe('authorization_pending');
    // Polling faster than the interval is told to slow down (RFC 8628 3.5).
    expect((await poll()).body.error).toBe('slow_down');
    // The agent: a separate process polling at the interval, as `heimdall login --device-code` does.
    const child = spawn(process.execPath, [fileURLToPath(new URL('./device-poll-child.ts', import.meta.url)), gw().url, auth.device_code, device.device_token, 'alice'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // The person: types the code on the verification page, then signs in at the IdP.
    const page = await signInWithPassword(`${auth.verification_uri}?user_code=${auth.user_code.toLowerCase()}`, ALICE, { follow: [gw().url, idp.issuer] });
    expect(page.final.status).toBe(200);
    expect(page.body).toContain('Signed in as alice@example.com');
    expect(await exited).toBe(0);
    const result = keep(JSON.parse(out));
    expect(result.heimdall_user.email).toBe('alice@example.com');
    expect(result.device_id).toBe('dev-dc');
    expect((await chat(asPerson({ device_token: device.device_token, access_token: result.access_token }))).status).toBe(200);
    // Used once.
    expect((await poll()).body.error).toBe('invalid_grant');
  }, 30_000);

  it('holds a person to the seat limit: a third device gets "Device limit reached — contact IT" and is not enrolled', async () => {
    await signedIn(BOB, 'dev-s1', 'bob'); // bob's second device (dev-b1 was the first)
    const third = await signIn(gw(), idp, BOB, 'dev-s2', { osUser: 'bob' });
    expect(third.status).toBe(403);
    expect(third.body).toEqual({ error: 'access_denied', error_description: 'Device limit reached — contact IT' });
    expect((await gw().admin('GET', 'devices/dev-s2')).status).toBe(404);
    // A device already counted signs in again freely.
    await signedIn(BOB, 'dev-s1', 'bob');
  });

  it('rotates refresh tokens; a rotated one presented again ends the whole sign-in at once', async () => {
    const t = await signedIn(person(1), 'dev-r1');
    const r1 = await refresh(t.refresh_token, t.device_token);
    expect(r1.status).toBe(200);
    expect(r1.body.refresh_token).not.toBe(t.refresh_token);
    expect((await chat(asPerson({ device_token: t.device_token, access_token: r1.body.access_token }))).status).toBe(200);
    // The thief (or the victim) replays the first token.
    const replay = await refresh(t.refresh_token, t.device_token);
    expect(replay.body.error).toBe('invalid_grant');
    // The family is dead: the newest refresh token and the access token it bought stop working now, not at exp.
    expect((await refresh(r1.body.refresh_token, t.device_token)).body.error).toBe('invalid_grant');
    const after = await chat(asPerson({ device_token: t.device_token, access_token: r1.body.access_token }));
    expect(after.status).toBe(401);
    expect(after.body).toContain('heimdall login');
  });

  it("refuses device A's refresh token with device B's device token, and ends that sign-in", async () => {
    const a = await signedIn(person(2), 'dev-x1');
    const b = await signedIn(person(3), 'dev-x2', 'bob');
    const stolen = await refresh(a.refresh_token, b.device_token);
    expect(stolen.body.error).toBe('invalid_grant');
    expect(stolen.body.error_description).toContain('another device');
    expect((await refresh(a.refresh_token, a.device_token)).body.error).toBe('invalid_grant');
    // Without a device token at all: no refresh.
    expect((await refresh(b.refresh_token, undefined)).body.error).toBe('invalid_device');
  });

  it("refuses device A's access token sent with device B's device token", async () => {
    const a = await signedIn(person(4), 'dev-y1');
    const b = await signedIn(person(5), 'dev-y2', 'bob');
    const r = await chat({ [DEVICE_TOKEN_HEADER]: b.device_token, [USER_TOKEN_HEADER]: a.access_token });
    expect(r.status).toBe(401);
    expect(r.body).toContain('another device');
    // And an access token alone proves nothing.
    expect((await chat({ [USER_TOKEN_HEADER]: a.access_token })).status).toBe(401);
  });

  it('without a user token a device request is blocked (unattributed: block) with the command to run', async () => {
    const a = await signedIn(person(6), 'dev-u1');
    const r = await chat({ [DEVICE_TOKEN_HEADER]: a.device_token });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body).error.message).toContain('heimdall login');
  });

  it('logout (revocation) ends the sign-in: its access token stops at once and its refresh token is dead', async () => {
    const t = await signedIn(person(7), 'dev-l1');
    expect((await chat(asPerson(t))).status).toBe(200);
    const res = await fetch(`${gw().url}${OAUTH_REVOKE_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', [DEVICE_TOKEN_HEADER]: t.device_token },
      body: new URLSearchParams({ token: t.refresh_token }).toString(),
    });
    expect(res.status).toBe(200);
    expect((await chat(asPerson(t))).status).toBe(401);
    expect((await refresh(t.refresh_token, t.device_token)).body.error).toBe('invalid_grant');
  });

  it('a revoked device takes its sign-ins with it', async () => {
    const t = await signedIn(person(8), 'dev-v1');
    expect((await gw().admin('POST', 'devices/dev-v1/revoke')).status).toBe(200);
    expect((await chat(asPerson(t))).status).toBe(403);
    expect((await refresh(t.refresh_token, t.device_token)).status).toBe(403);
    // The group key alice used is shared: revoking her laptop must not revoke it for everyone.
    const keys = (await gw().admin('GET', 'keys')).body.keys;
    expect(keys.find((k: any) => k.id === sso.keys.eng.id).revoked_at).toBeNull();
  });

  it('a disabled person is signed out everywhere and cannot sign in again', async () => {
    const t = await signedIn(BOB, 'dev-b1', 'bob');
    expect((await chat(asPerson(t))).status).toBe(200);
    expect((await gw().admin('POST', 'users/bob@example.com/disable')).status).toBe(200);
    expect((await chat(asPerson(t))).status).toBe(401);
    expect((await refresh(t.refresh_token, t.device_token)).body.error).toBe('invalid_grant');
    const back = await browserCode(gw(), idp, BOB, pkce().challenge);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toContain('disabled');
    expect((await gw().admin('POST', 'users/bob@example.com/enable')).status).toBe(200);
  });

  it('IdP down during sign-in: the agent hears a clear error naming it, and signing in works once it is back', async () => {
    const { challenge } = pkce();
    // The person signed in at the IdP; on the way back to the gateway the IdP goes down.
    const atIdp = await signInWithPassword(authorizeUrl(gw(), challenge), person(9), { follow: [idp.issuer] });
    expect(atIdp.redirect?.pathname).toBe('/oauth/callback');
    await idp.stop();
    // The agent's loopback listener hears why, so `heimdall login` stops waiting and says it.
    const down = await fetch(atIdp.redirect!, { redirect: 'manual' });
    expect(down.status).toBe(302);
    const back = new URL(down.headers.get('location')!);
    expect(back.origin + back.pathname).toBe(AGENT_REDIRECT);
    expect(back.searchParams.get('code')).toBeNull();
    expect(back.searchParams.get('error')).toBe('temporarily_unavailable');
    expect(back.searchParams.get('error_description')).toContain('Example Corp');
    expect(back.searchParams.get('error_description')).toContain('try again');
    expect(back.searchParams.get('state')).toBe('agent-state-1');
    await idp.start();
    const t = await signedIn(person(9), 'dev-i1');
    expect((await chat(asPerson(t))).status).toBe(200);
  });

  it('the CLI lists people with the key they get and assigns one', async () => {
    const cli = (...args: string[]) => promisify(execFile)(process.execPath, [GATEWAY_BIN, ...args, '--data-dir', gw().dataDir], { env: { PATH: process.env['PATH'] ?? '' } });
    const assigned = await cli('users', 'assign-key', 'alice@example.com', 'env.VK_DEFAULT');
    expect(assigned.stdout).toContain('alice@example.com gets env.VK_DEFAULT (assigned)');
    const list = JSON.parse((await cli('users', 'list', '--json')).stdout) as { users: any[] };
    expect(list.users.find((u) => u.email === 'alice@example.com')).toMatchObject({ virtual_key: 'env.VK_DEFAULT', source: 'assigned', groups: ['engineering'] });
    expect((await cli('users', 'assign-key', 'alice@example.com', 'none')).stdout).toContain('env.VK_ENG (group)');
    await expect(cli('users', 'disable', 'nobody@example.com')).rejects.toMatchObject({ stderr: expect.stringContaining('no user') });
  });

  it('never writes the IdP client secret, a refresh token or an access token to its log', () => {
    const log = sso.gw.output();
    expect(log).toContain('person signed in at the IdP');
    expect(issued.length).toBeGreaterThan(10);
    expect(log).not.toContain(IDP_CLIENT_SECRET);
    for (const token of issued) expect(log).not.toContain(token);
    for (const key of Object.values(sso.keys)) expect(log).not.toContain(key.key);
  });
});
