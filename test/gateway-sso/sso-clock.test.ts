// SSO rules that depend on time or on the organization's settings, on an in-process gateway with a
// ManualClock (no sleeping): access tokens expire, idle sign-ins die, unattributed requests are
// served under the organization's key when it says so, virtual-key sign-in can be switched off,
// and an IdP that is down before the gateway ever reached it gives a clear page, then works.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { EMPTY_CONFIG, type GatewayConfig } from '../../gateway/src/config.ts';
import { loadSsoConfig } from '../../gateway/src/sso/index.ts';
import { AGENT_CLIENT_ID, DEVICE_TOKEN_HEADER, OAUTH_DEVICE_AUTHORIZATION_PATH, OAUTH_METADATA_PATH, USER_TOKEN_HEADER, SSO_TIMING } from '../../protocol/index.ts';
import { createKey, enroll, renewToken, startTestGateway, type TestGateway } from '../gateway/helpers.ts';
import { TestIdp } from '../helpers/oidc-idp.ts';
import { authorizeUrl, IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT, pkce, signIn, tokenRequest } from './sso-helpers.ts';

const PROVIDER_KEY = 'sk-demo-org-key';
const ALICE = { username: 'alice', password: 'alice-Pa55word' };
const idp = new TestIdp({ clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_CLIENT_SECRET, redirectUris: [IDP_REDIRECT], applicationType: 'native' }] });
// Real seconds matter to the IdP (its ID tokens carry iat/exp); the gateway's own clock is manual.
const clock = new ManualClock(Date.now());
let upstream: DemoUpstream;
let gw: TestGateway;
let dataDir: string;
let keys: { eng: { id: string; key: string }; unattributed: { id: string; key: string } };

beforeAll(async () => {
  await idp.start();
  upstream = await startDemoUpstream({ keys: { openai: [PROVIDER_KEY] }, chunkDelayMs: 0 });
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-sso-clock-'));
  const first = await startTestGateway({ dataDir, clock });
  keys = { eng: await createKey(first, 'engineering-team@example.com'), unattributed: await createKey(first, 'unattributed@example.com') };
  await first.stop();
  const env = { IDP_CLIENT_SECRET, VK_ENG: keys.eng.key, VK_UNATTRIBUTED: keys.unattributed.key, OPENAI: PROVIDER_KEY };
  const sso = loadSsoConfig(
    {
      // Two IdPs (a merger): the same test IdP under two names, so the chooser is shown.
      providers: [
        { id: 'corp', display_name: 'Example Corp', issuer: idp.issuer, client_id: IDP_CLIENT_ID, client_secret: 'env.IDP_CLIENT_SECRET', scopes: ['openid', 'email', 'profile', 'groups'] },
        { id: 'acquired', display_name: 'Acquired Inc', issuer: idp.issuer, client_id: IDP_CLIENT_ID, client_secret: 'env.IDP_CLIENT_SECRET' },
      ],
      default_virtual_key: 'env.VK_ENG',
      allow_virtual_key_login: false,
      unattributed: 'device',
      unattributed_virtual_key: 'env.VK_UNATTRIBUTED',
    },
    env,
  );
  const config: GatewayConfig = { ...EMPTY_CONFIG, sso, inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.OPENAI' } } } };
  process.env['OPENAI'] = PROVIDER_KEY;
  // The IdP is down when the gateway starts and has never been reached (no discovery cached).
  await idp.stop();
  gw = await startTestGateway({ dataDir, clock, config });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  await upstream?.close();
  await idp.stop();
  delete process.env['OPENAI'];
});

const chat = (headers: Record<string, string>) =>
  fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (res) => ({ status: res.status, body: await res.text() }));

describe('SSO over time and settings', () => {
  it('an IdP that is down when the sign-in starts: the agent hears why, a device-code page says it; the next attempt works once it is up', async () => {
    const down = await fetch(authorizeUrl(gw, pkce().challenge, 's', undefined, 'corp'), { redirect: 'manual' });
    expect(down.status).toBe(302);
    const back = new URL(down.headers.get('location')!);
    expect(back.searchParams.get('error')).toBe('temporarily_unavailable');
    expect(back.searchParams.get('error_description')).toContain('Example Corp');
    expect(back.searchParams.get('error_description')).toContain('could not be reached');
    // The device-code flow has no listener: the person's browser shows a page.
    const auth = (await (
      await fetch(`${gw.url}${OAUTH_DEVICE_AUTHORIZATION_PATH}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `client_id=${AGENT_CLIENT_ID}` })
    ).json()) as any;
    const page = await fetch(`${auth.verification_uri_complete}&idp=corp`, { redirect: 'manual' });
    expect(page.status).toBe(503);
    expect(await page.text()).toContain('could not be reached');
    await idp.start();
    const up = await fetch(authorizeUrl(gw, pkce().challenge, 's', undefined, 'corp'), { redirect: 'manual' });
    expect(up.status).toBe(302);
    expect(up.headers.get('location')).toContain(idp.issuer);
  });

  it('with several IdPs shows a chooser, each entry leading to its IdP; an unknown one is refused', async () => {
    const page = await fetch(authorizeUrl(gw, pkce().challenge), { redirect: 'manual' });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Example Corp');
    expect(html).toContain('Acquired Inc');
    const link = /href="([^"]*idp=acquired[^"]*)"/.exec(html)![1]!.replaceAll('&#38;', '&');
    const go = await fetch(new URL(link, gw.url), { redirect: 'manual' });
    expect(go.status).toBe(302);
    expect(go.headers.get('location')).toContain(idp.issuer);
    const bad = await fetch(authorizeUrl(gw, pkce().challenge, 's', undefined, 'nope'), { redirect: 'manual' });
    expect(bad.status).toBe(400);
  });

  it('an access token expires after 10 minutes; the refresh token buys a new one', async () => {
    const t = await signIn(gw, idp, ALICE, 'dev-e1', { idpId: 'corp' });
    expect(t.status, JSON.stringify(t.body)).toBe(200);
    const headers = { [DEVICE_TOKEN_HEADER]: t.body.device_token, [USER_TOKEN_HEADER]: t.body.access_token };
    expect((await chat(headers)).status).toBe(200);
    clock.advance((SSO_TIMING.accessTokenTtlS + 1) * 1000);
    // The device token (15 minutes) is still good: only the person's token expired, and was cached as verified.
    const expired = await chat(headers);
    expect(expired.status).toBe(401);
    expect(expired.body).toContain('expired');
    const r = await tokenRequest(gw, { grant_type: 'refresh_token', client_id: AGENT_CLIENT_ID, refresh_token: t.body.refresh_token }, t.body.device_token);
    expect(r.status).toBe(200);
    expect((await chat({ ...headers, [USER_TOKEN_HEADER]: r.body.access_token })).status).toBe(200);
  });

  it('a sign-in unused for 30 days is over', async () => {
    const t = await signIn(gw, idp, ALICE, 'dev-e2', { idpId: 'acquired' });
    expect(t.status).toBe(200);
    clock.advance(SSO_TIMING.refreshIdleS * 1000 + 1000);
    const token = (await renewToken(gw, 'dev-e2')).body.device_token;
    const r = await tokenRequest(gw, { grant_type: 'refresh_token', client_id: AGENT_CLIENT_ID, refresh_token: t.body.refresh_token }, token);
    expect(r.body.error).toBe('invalid_grant');
    expect(r.body.error_description).toContain('expired');
  });

  it('unattributed: device serves a request without a user token under the organization key, recorded without a user', async () => {
    const t = await signIn(gw, idp, ALICE, 'dev-e3', { idpId: 'corp' });
    expect(t.status).toBe(200);
    const r = await chat({ [DEVICE_TOKEN_HEADER]: t.body.device_token });
    expect(r.status, r.body).toBe(200);
    const event = (await gw.admin('GET', 'events?type=inference&device=dev-e3&limit=1')).body.events[0];
    expect(event.user_id).toBeNull();
    expect(event.attrs.unattributed).toBe(true);
    expect(event.attrs.key_id).toBe(keys.unattributed.id);
    // The agents hear the setting in their policy.
    const policy = await gw.control.policyMessageFor('dev-e3');
    expect(JSON.parse(policy.text).snapshot.settings.unattributed).toBe('device');
  });

  it('with virtual-key sign-in switched off, enrollment with a key is refused and discovery says so', async () => {
    const meta = (await (await fetch(`${gw.url}${OAUTH_METADATA_PATH}`)).json()) as any;
    expect(meta.heimdall_virtual_key_login).toBe(false);
    const r = await enroll(gw, keys.eng.key, 'dev-vk');
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('virtual_key_login_disabled');
    expect(r.body.error.message).toContain('heimdall login');
  });
});

describe('sso config', () => {
  const base = { providers: [{ id: 'okta', issuer: 'https://corp.okta.com', client_id: 'abc', client_secret: 'env.OKTA_SECRET' }] };
  it('names the key and the variable, never a value', () => {
    expect(() => loadSsoConfig(base, {})).toThrow(/sso\.providers\.0\.client_secret.*OKTA_SECRET is not set/);
    expect(() => loadSsoConfig({ ...base, providers: [{ ...base.providers[0], client_secret: 'plain-secret-value' }] }, {})).toThrow(/env\.OKTA_CLIENT_SECRET/);
    try {
      loadSsoConfig({ ...base, providers: [{ ...base.providers[0], client_secret: 'plain-secret-value' }] }, {});
    } catch (err) {
      expect((err as Error).message).not.toContain('plain-secret-value');
    }
  });
  it('refuses a plain-http IdP off loopback and unattributed device without its key', () => {
    expect(() => loadSsoConfig({ providers: [{ ...base.providers[0], issuer: 'http://corp.okta.com' }] }, { OKTA_SECRET: 's' })).toThrow(/https/);
    expect(() => loadSsoConfig({ ...base, unattributed: 'device' }, { OKTA_SECRET: 's' })).toThrow(/unattributed_virtual_key/);
    const secretShown = loadSsoConfig(base, { OKTA_SECRET: 'top-secret-value' });
    expect(JSON.stringify(secretShown)).not.toContain('top-secret-value');
  });
});
