// Console sign-in through the organization's IdP (issue 20), in headless Debian Chromium driven by
// playwright-core, against a real `heimdall-gateway run` over real TLS at https://localhost:<port> and
// the real OpenID Provider of the SSO tests (oidc-provider, test/helpers/oidc-idp.ts) at
// http://127.0.0.1:<port>: another site, so the IdP's redirect back is a cross-site navigation as in
// production. Administrators are named by an IdP group or a verified address in the gateway config;
// everyone else, disabled people and sign-ins started for an agent or a device get no session.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
import fs from 'node:fs';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLIENT_ID, OAUTH_DEVICE_AUTHORIZATION_PATH } from '../../protocol/index.ts';
import { signInWithPassword, TestIdp, type IdpUser } from '../helpers/oidc-idp.ts';
import { REPO_ROOT } from '../helpers/process.ts';
import { createTestPki } from '../intercept/harness.ts';
import { startGatewayChild, type GatewayChild } from '../gateway/process.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(REPO_ROOT, '.tmp/console-screenshots');
const CLIENT_ID = 'heimdall-gateway';
const CLIENT_SECRET = 'idp-client-secret-Console-4hQ2';
const COOKIE = '__Secure-heimdall-console';
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const ADA: IdpUser = { username: 'ada', password: 'ada-Pa55word', email: 'ada@example.com', name: 'Ada Admin', groups: ['engineering', 'it-admins'] };
const BOB: IdpUser = { username: 'bob', password: 'bob-Pa55word', email: 'bob@example.com', name: 'Bob Example', groups: ['sales'] };
const ERIN: IdpUser = { username: 'erin', password: 'erin-Pa55word', email: 'erin@example.com', name: 'Erin Email', groups: [] };
// Listed by address, but the IdP does not vouch for the address: proves nothing.
const UNVERIFIED: IdpUser = { username: 'uma', password: 'uma-Pa55word', email: 'uma@example.com', name: 'Uma Unverified', groups: [], emailVerified: false };
const DAVE: IdpUser = { username: 'dave', password: 'dave-Pa55word', email: 'dave@example.com', name: 'Dave Disabled', groups: ['it-admins'] };

let pki: ReturnType<typeof createTestPki>;
let idp: TestIdp;
let gw: GatewayChild;
let base: string;
let browser: Browser;
const contexts: BrowserContext[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** An HTTPS request to the gateway trusting the test CA. */
function request(method: string, url: string, options: { headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: pki.caPem, servername: 'localhost', headers: options.headers ?? {} }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text.startsWith('{') ? JSON.parse(text) : text }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const admin = (method: string, pathAndQuery: string, body?: unknown) =>
  request(method, `${base}/admin/v1/${pathAndQuery}`, {
    headers: { authorization: `Bearer ${gw.adminToken()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** A browser of its own (no IdP session, no console cookie) for one person. */
async function freshPage(): Promise<Page> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  return context.newPage();
}

async function consoleCookie(page: Page) {
  return (await page.context().cookies(`${base}/console/`)).find((c) => c.name === COOKIE);
}

/** From the console's sign-in page: the IdP button, then the IdP's own form. */
async function signInWithIdp(page: Page, user: IdpUser): Promise<void> {
  await page.goto(`${base}/console/`);
  expect(new URL(page.url()).pathname).toBe('/console/sign-in');
  await page.getByRole('link', { name: 'Sign in with Example Corp' }).click();
  await page.waitForURL((u) => u.origin === idp.issuer);
  await page.fill('input[name="username"]', user.username);
  await page.fill('input[name="password"]', user.password);
  await page.click('button[type="submit"]');
}

/** Signs in at the IdP over HTTP from its authorization URL, stopping at its redirect back to the gateway: that URL (code and state). */
async function idpAnswer(authorizationUrl: string, user: IdpUser): Promise<URL> {
  const result = await signInWithPassword(authorizationUrl, user, { follow: [idp.issuer] });
  if (!result.redirect) throw new Error(`the IdP answered a page (${result.final.status}): ${result.body.slice(0, 300)}`);
  return result.redirect;
}

/** axe-core's violations on the page, as `rule: target` lines (as console-browser.test.ts runs it). */
async function axeViolations(p: Page): Promise<string[]> {
  await p.evaluate(AXE_SOURCE);
  const result = await p.evaluate<{ violations: { id: string; nodes: { target: string[] }[] }[] }>("axe.run(document, { resultTypes: ['violations'] })");
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`));
}

async function events(type: string): Promise<any[]> {
  return (await admin('GET', `events?type=${type}&limit=50`)).body.events;
}

beforeAll(async () => {
  pki = createTestPki(fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-console-sso-pki-')));
  const { cert, key } = pki.issue('gateway', ['localhost']);
  fs.writeFileSync(path.join(pki.dir, 'gw.pem'), cert);
  fs.writeFileSync(path.join(pki.dir, 'gw-key.pem'), key, { mode: 0o600 });
  const port = await freePort();
  base = `https://localhost:${port}`;
  idp = new TestIdp({
    users: [ADA, BOB, ERIN, UNVERIFIED, DAVE],
    // The two callbacks an administrator registers at the IdP: the agents' and the console's.
    clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${base}/oauth/callback`, `${base}/console/sso/callback`] }],
  });
  await idp.start();
  // The organization's default virtual key, made as an administrator would (a device sign-in needs one).
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-console-sso-'));
  const first = await startGatewayChild({ dataDir });
  const defaultKey = (await first.admin('POST', 'keys', { user_email: 'everyone@example.com' })).body.key as string;
  await first.stop();
  gw = await startGatewayChild({
    dataDir,
    args: ['--listen', `127.0.0.1:${port}`],
    config: {
      public_url: base,
      tls: { cert_file: path.join(pki.dir, 'gw.pem'), key_file: path.join(pki.dir, 'gw-key.pem') },
      sso: {
        providers: [
          {
            id: 'corp',
            display_name: 'Example Corp',
            issuer: idp.issuer,
            client_id: CLIENT_ID,
            client_secret: 'env.IDP_CLIENT_SECRET',
            scopes: ['openid', 'email', 'profile', 'groups'],
            admin_groups: ['it-admins'],
            admin_emails: ['Erin@example.com', 'uma@example.com'],
          },
        ],
        default_virtual_key: 'env.VK_DEFAULT',
      },
    },
    env: { IDP_CLIENT_SECRET: CLIENT_SECRET, VK_DEFAULT: defaultKey },
  });
  expect(gw.url).toBe(`https://127.0.0.1:${port}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await gw?.stop();
  if (gw) fs.rmSync(gw.dataDir, { recursive: true, force: true });
  await idp?.stop();
  if (pki) fs.rmSync(pki.dir, { recursive: true, force: true });
});

describe('console sign-in with the organization’s SSO, in Chromium', () => {
  it('an administrator (IdP group) clicks “Sign in with Example Corp”, signs in at the IdP and lands in the console: Secure, HttpOnly, SameSite=Strict cookie, the header names them', async () => {
    const page = await freshPage();
    await page.goto(`${base}/console/sign-in`);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sso-sign-in-desktop.png') });
    expect(await axeViolations(page)).toEqual([]);
    await signInWithIdp(page, ADA);
    await page.waitForURL(`${base}/console/`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Overview');
    expect(await page.locator('header .who').textContent()).toBe('Signed in as ada@example.com (SSO)');
    const cookie = await consoleCookie(page);
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/console' });
    // The binding cookie of the sign-in is spent.
    expect((await page.context().cookies(`${base}/console/sso/callback`)).map((c) => c.name)).not.toContain('__Secure-heimdall-console-sso');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sso-overview-desktop.png'), fullPage: true });
    expect(await axeViolations(page)).toEqual([]);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sso-overview-narrow.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(idp.logins).toContain('ada');

    // Signed in as that person: they approve an app, and the audit names them.
    expect((await admin('POST', 'apps/cursor/decision', { status: 'pending' })).status).toBe(200);
    const cursor = (await admin('GET', 'apps')).body.apps.find((a: any) => a.id === 'cursor');
    expect(cursor).toMatchObject({ status: 'pending' });
    await page.goto(`${base}/console/apps?status=pending`);
    await page.getByRole('button', { name: `Approve ${cursor.display_name ?? cursor.id}`, exact: true }).click();
    await page.waitForURL(/\/console\/apps/);
    expect(await page.getByRole('status').textContent()).toContain('Approved: app cursor.');
    expect((await admin('GET', 'apps')).body.apps.find((a: any) => a.id === 'cursor')).toMatchObject({ status: 'approved' });
    const signIns = await events('console.sign_in');
    expect(signIns.find((e) => e.attrs.email === 'ada@example.com')).toMatchObject({ attrs: { method: 'sso', issuer: idp.issuer } });
    const changes = await events('console.change');
    expect(changes.find((e) => e.attrs.action === '/console/apps/decide')).toMatchObject({ attrs: { method: 'sso', email: 'ada@example.com', outcome: 'ok' } });
    expect(gw.output()).toMatch(/"msg":"console change".*"by":"ada@example.com"|"by":"ada@example.com".*"msg":"console change"/);
  }, 60_000);

  it('a person who is not a console administrator is refused with a 403 page saying so, and gets no session cookie', async () => {
    const page = await freshPage();
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/console/sso/callback');
    await signInWithIdp(page, BOB);
    expect((await answer).status()).toBe(403);
    await page.waitForLoadState();
    expect(await page.locator('main').textContent()).toContain('bob@example.com is not a console administrator of this gateway');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sso-refused-desktop.png') });
    expect(await axeViolations(page)).toEqual([]);
    expect(await consoleCookie(page)).toBeUndefined();
    await page.goto(`${base}/console/`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    expect((await events('console.sign_in_refused')).find((e) => e.attrs.email === 'bob@example.com')).toMatchObject({ attrs: { method: 'sso', reason: 'Not a console administrator' } });
    // Refused people are not made gateway users by trying.
    expect((await admin('GET', 'users')).body.users.map((u: any) => u.email)).not.toContain('bob@example.com');
  }, 60_000);

  it('an administrator listed by address gets in when the IdP verified it, and not when it did not', async () => {
    const erin = await freshPage();
    await signInWithIdp(erin, ERIN);
    await erin.waitForURL(`${base}/console/`);
    expect(await erin.locator('header .who').textContent()).toBe('Signed in as erin@example.com (SSO)');

    // An IdP that says the address is not verified is refused before anything else (federation).
    const uma = await freshPage();
    const answer = uma.waitForResponse((r) => new URL(r.url()).pathname === '/console/sso/callback');
    await signInWithIdp(uma, UNVERIFIED);
    expect((await answer).status()).toBe(400);
    await uma.waitForLoadState();
    expect(await uma.locator('main').textContent()).toContain('has not verified the address uma@example.com');
    expect(await consoleCookie(uma)).toBeUndefined();
  }, 60_000);

  it('disabling an administrator ends their console session, and their next SSO sign-in is refused', async () => {
    const page = await freshPage();
    await signInWithIdp(page, DAVE);
    await page.waitForURL(`${base}/console/`);
    const disabled = await admin('POST', 'users/dave@example.com/disable');
    expect(disabled.status).toBe(200);
    await page.goto(`${base}/console/devices`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');

    const again = await freshPage();
    const answer = again.waitForResponse((r) => new URL(r.url()).pathname === '/console/sso/callback');
    await signInWithIdp(again, DAVE);
    expect((await answer).status()).toBe(403);
    await again.waitForLoadState();
    expect(await again.locator('main').textContent()).toContain('was disabled by an administrator');
    expect(await consoleCookie(again)).toBeUndefined();
  }, 60_000);

  it('a device sign-in’s state and code replayed at the console callback open no session; a console sign-in’s at the agents’ callback approve nothing; a console callback finished in another browser is refused', async () => {
    // An administrator signs in a device (device code); its callback is taken to the console's door.
    const started = await request('POST', `${base}${OAUTH_DEVICE_AUTHORIZATION_PATH}`, { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: AGENT_CLIENT_ID }).toString() });
    expect(started.status).toBe(200);
    const devicePage = await request('GET', started.body.verification_uri_complete);
    expect(devicePage.status).toBe(302);
    const deviceCallback = await idpAnswer(devicePage.headers['location'] as string, ADA);
    expect(deviceCallback.pathname).toBe('/oauth/callback');
    const page = await freshPage();
    const replay = await page.goto(`${base}/console/sso/callback${deviceCallback.search}`);
    expect(replay?.status()).toBe(400);
    expect(await page.locator('main').textContent()).toContain('a sign-in started for an agent or a device cannot open the console');
    expect(await consoleCookie(page)).toBeUndefined();
    // The device sign-in itself was not spent by the attempt: its own callback still finishes it.
    const device = await page.goto(deviceCallback.toString());
    expect(device?.status()).toBe(200);
    expect(await page.locator('#done').textContent()).toContain('Signed in as ada@example.com');
    expect(await consoleCookie(page)).toBeUndefined();

    // The other way: a console sign-in's callback taken to the agents' door.
    const other = await freshPage();
    const startAnswer = other.waitForResponse((r) => new URL(r.url()).pathname === '/console/sso/start');
    await other.goto(`${base}/console/sso/start?idp=corp`);
    const consoleCallback = await idpAnswer((await startAnswer).headers()['location']!, ADA);
    expect(consoleCallback.pathname).toBe('/console/sso/callback');
    const wrongDoor = await other.goto(`${base}/oauth/callback${consoleCallback.search}`);
    expect(wrongDoor?.status()).toBe(400);
    expect(await other.locator('#error').textContent()).toContain('this sign-in is unknown');
    expect(await consoleCookie(other)).toBeUndefined();

    // The console callback in a browser that did not start it (no binding cookie): refused.
    const thief = await freshPage();
    const stolen = await thief.goto(`${base}/console/sso/callback${consoleCallback.search}`);
    expect(stolen?.status()).toBe(400);
    expect(await thief.locator('main').textContent()).toContain('started in another browser');
    expect(await consoleCookie(thief)).toBeUndefined();
    // Single use: the one that started it cannot finish it after the refusal either.
    const late = await other.goto(`${base}/console/sso/callback${consoleCallback.search}`);
    expect(late?.status()).toBe(400);
    expect(await consoleCookie(other)).toBeUndefined();
    console.log(`console screenshots: ${SCREENSHOTS}`);
  }, 90_000);
});
