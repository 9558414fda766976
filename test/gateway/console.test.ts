// The admin console's own defences, against an in-process gateway on real sockets (plain http, and
// real TLS with a test CA): sign-in and the session cookie's attributes, server-side sessions that
// expire (a ManualClock moves time), end at sign-out and when the admin token rotates, a CSRF token
// and same-origin check on every change, hostile names reported by a device shown as text, changes
// validated by the admin API, and the exposure rule (loopback, or TLS with admin.allow_remote).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { createTestPki } from '../intercept/harness.ts';
import { consoleRequest, csrfToken, signIn } from './console-client.ts';
import { enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

const HOSTILE = '<img src=x onerror="alert(1)">';

describe('console sessions and CSRF (http on loopback)', () => {
  let gw: TestGateway;
  const clock = new ManualClock(Date.UTC(2026, 0, 15, 12));

  beforeAll(async () => {
    gw = await startTestGateway({ clock, consoleSessionLimits: { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000, max: 1_000 } });
  });
  afterAll(() => gw.stop());

  it('signs in with the admin token: HttpOnly, SameSite=Strict cookie scoped to /console (not Secure without TLS); a wrong token gets no cookie', async () => {
    const wrong = await consoleRequest(gw.url, '/console/sign-in', { form: { token: 'hdm-admin-not-the-token-0000000000000000' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.body).toContain('That is not the admin token.');

    const { setCookie, cookie } = await signIn(gw.url, gw.adminToken);
    const attrs = setCookie.split(';').map((a) => a.trim());
    expect(attrs[0]).toMatch(/^heimdall-console=[A-Za-z0-9_-]{43}$/);
    expect(attrs).toEqual(expect.arrayContaining(['Path=/console', 'HttpOnly', 'SameSite=Strict', 'Max-Age=43200']));
    expect(attrs).not.toContain('Secure');
    const overview = await consoleRequest(gw.url, '/console/', { cookie });
    expect(overview.status).toBe(200);
    expect(overview.headers['content-security-policy']).toContain("default-src 'none'");
    expect(overview.headers['cache-control']).toBe('no-store');
    // The token itself is never part of a page.
    expect(overview.body).not.toContain(gw.adminToken);
  });

  it('without a session: pages send the browser to sign-in, changes are refused', async () => {
    const page = await consoleRequest(gw.url, '/console/devices');
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/console/sign-in');
    const change = await consoleRequest(gw.url, '/console/apps/decide', { form: { id: 'cursor', status: 'denied', csrf: 'x' } });
    expect(change.status).toBe(401);
    expect((await gw.admin('GET', 'apps')).body.apps.find((a: { id: string }) => a.id === 'cursor')).toBeUndefined();
  });

  it('refuses a change without the CSRF token, with a wrong one, or from another origin; the same change with it goes through', async () => {
    const { cookie } = await signIn(gw.url, gw.adminToken);
    const csrf = await csrfToken(gw.url, cookie);
    const decide = (form: Record<string, string>, headers: Record<string, string> = {}) => consoleRequest(gw.url, '/console/apps/decide', { cookie, form, headers });
    const cursor = async (): Promise<{ status: string } | undefined> => (await gw.admin<{ apps: { id: string; status: string }[] }>('GET', 'apps')).body.apps.find((a) => a.id === 'cursor');

    expect((await decide({ id: 'cursor', status: 'denied' })).status).toBe(403);
    expect((await decide({ id: 'cursor', status: 'denied', csrf: `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` })).status).toBe(403);
    expect((await decide({ id: 'cursor', status: 'denied', csrf }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await decide({ id: 'cursor', status: 'denied', csrf }, { 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    // Another session's token is not this session's.
    const other = await signIn(gw.url, gw.adminToken);
    expect((await decide({ id: 'cursor', status: 'denied', csrf: await csrfToken(gw.url, other.cookie) })).status).toBe(403);
    expect(await cursor()).toBeUndefined();

    const done = await decide({ id: 'cursor', status: 'denied', csrf }, { origin: gw.url, 'sec-fetch-site': 'same-origin' });
    expect(done.status).toBe(303);
    expect(await cursor()).toMatchObject({ status: 'denied' });
    const after = await consoleRequest(gw.url, done.headers.location!, { cookie });
    expect(after.body).toContain('Denied: app cursor.');
  });

  it('validates changes with the admin API: an unknown app id is refused with its message and nothing is created', async () => {
    const { cookie } = await signIn(gw.url, gw.adminToken);
    const csrf = await csrfToken(gw.url, cookie);
    const r = await consoleRequest(gw.url, '/console/apps/decide', { cookie, form: { id: 'cursr', status: 'approved', csrf } });
    expect(r.status).toBe(303);
    const page = await consoleRequest(gw.url, r.headers.location!, { cookie });
    expect(page.body).toContain('no app &quot;cursr&quot; in the catalog');
    expect((await gw.admin('GET', 'apps')).body.apps.map((a: { id: string }) => a.id)).not.toContain('cursr');
    const bad = await consoleRequest(gw.url, '/console/settings', { cookie, form: { fail_mode: 'sideways', csrf } });
    expect((await consoleRequest(gw.url, bad.headers.location!, { cookie })).body).toContain('fail_mode: &quot;sideways&quot; is not accepted; accepted: open, closed');
    expect((await gw.admin('GET', 'settings')).body.fail_mode).toBe('open');
  });

  it('shows names a device reported as text, never as markup', async () => {
    const { token } = await enrolledDevice(gw, 'dev-hostile');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('dev-hostile', { hostname: HOSTILE });
    peer.send({ type: 'inventory.apps', seq: 1, apps: [{ app_id: 'hostile-app', display_name: HOSTILE }] });
    await peer.next('ack', (m) => m.seq === 1);
    const server = { app: 'claude-code', scope: 'user', config_path: '/home/alice/.claude.json', name: HOSTILE, transport: 'stdio', fingerprint: 'fp-hostile-0001', command: HOSTILE, args: [], env_keys: [HOSTILE], header_keys: [], os_user: 'alice' };
    peer.send({ type: 'inventory.mcp', seq: 2, servers: [server], errors: [] });
    await peer.next('ack', (m) => m.seq === 2);
    const { cookie } = await signIn(gw.url, gw.adminToken);
    for (const page of ['/console/apps', '/console/mcp-servers', '/console/devices', '/console/apps/item?id=hostile-app']) {
      const body = (await consoleRequest(gw.url, page, { cookie })).body;
      expect(body, page).toContain('&lt;img src=x onerror=&quot;alert(1)&quot;&gt;');
      expect(body, page).not.toContain(HOSTILE);
    }
    peer.close();
  });

  it('counts today’s blocked requests and the governed requests per app from what agents sent', async () => {
    const { token } = await enrolledDevice(gw, 'dev-counts');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('dev-counts', { outbox_stream: 'stream-counts' });
    const now = new Date(clock.now()).toISOString();
    const yesterday = new Date(clock.now() - 86_400_000).toISOString();
    const event = (seq: number, type: string, at: string, app: string) => ({ seq, type, at, app, os_user: 'alice', attrs: { decision: type === 'block' ? 'block' : 'allow' } });
    peer.send({ type: 'events', seq_from: 1, events: [event(1, 'block', now, 'counted-app'), event(2, 'block', now, 'counted-app'), event(3, 'request', now, 'counted-app'), event(4, 'block', yesterday, 'counted-app')] });
    await peer.next('ack', (m) => m.seq === 4, { includeSeen: true });
    const { cookie } = await signIn(gw.url, gw.adminToken);
    const body = (await consoleRequest(gw.url, '/console/', { cookie })).body;
    expect(body).toMatch(/<a href="\/console\/events\?type=block">2<\/a><\/div><div class="label">requests blocked today/);
    const day = now.slice(0, 10);
    // The chart's table: counted-app has 3 governed requests today (2 blocked, 1 allowed) and 1 yesterday.
    expect(body).toContain('<th scope="col" class="num">counted-app</th>');
    expect(body).toMatch(new RegExp(`<tr><th scope="row">${day}</th><td class="num">3</td>`));
    peer.close();
  });

  it('shows a new virtual key once, in the page after creating it, and never again', async () => {
    const { cookie } = await signIn(gw.url, gw.adminToken);
    const csrf = await csrfToken(gw.url, cookie);
    const r = await consoleRequest(gw.url, '/console/keys', { cookie, form: { user_email: 'dana@example.com', name: 'laptop', csrf } });
    const first = await consoleRequest(gw.url, r.headers.location!, { cookie });
    const key = /<code class="secret">(sk-bf-[^<]+)<\/code>/.exec(first.body)?.[1];
    expect(key).toBeDefined();
    expect(first.headers['cache-control']).toBe('no-store');
    expect((await consoleRequest(gw.url, '/console/keys', { cookie })).body).not.toContain(key!);
  });

  it('ends a session after 30 idle minutes, and at sign-out on the server (the old cookie stops working)', async () => {
    const idle = await signIn(gw.url, gw.adminToken);
    clock.advance(29 * 60_000);
    expect((await consoleRequest(gw.url, '/console/', { cookie: idle.cookie })).status).toBe(200);
    clock.advance(30 * 60_000);
    const expired = await consoleRequest(gw.url, '/console/', { cookie: idle.cookie });
    expect(expired.status).toBe(303);
    expect(expired.headers.location).toBe('/console/sign-in');

    const { cookie } = await signIn(gw.url, gw.adminToken);
    const csrf = await csrfToken(gw.url, cookie);
    const out = await consoleRequest(gw.url, '/console/sign-out', { cookie, form: { csrf } });
    expect(out.status).toBe(303);
    expect(out.headers['set-cookie']?.[0]).toMatch(/^heimdall-console=; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=0/);
    // A copy of the cookie kept by someone else is worth nothing now.
    expect((await consoleRequest(gw.url, '/console/', { cookie })).status).toBe(303);
  });

  it('ends every admin-token session when the admin token rotates', async () => {
    const { cookie } = await signIn(gw.url, gw.adminToken);
    expect((await consoleRequest(gw.url, '/console/', { cookie })).status).toBe(200);
    const rotated = await gw.admin('POST', 'admin-token/rotate');
    expect(rotated.status).toBe(200);
    gw.adminToken = rotated.body.token;
    expect((await consoleRequest(gw.url, '/console/', { cookie })).status).toBe(303);
  });
});

/** An IPv4 address of this machine other than loopback: callers from it are remote. */
function lanAddress(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address; the remote-access tests need one');
}

describe('console exposure: loopback, or TLS with admin.allow_remote', () => {
  const lan = lanAddress();
  let dir: string;
  let caPem: string;
  let tls: { certPem: string; keyPem: string };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-console-pki-'));
    const pki = createTestPki(dir);
    caPem = pki.caPem;
    const issued = pki.issue('gateway', ['localhost']);
    tls = { certPem: issued.cert, keyPem: issued.key };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses a remote caller by default, and without TLS even with allow_remote', async () => {
    for (const adminAllowRemote of [false, true]) {
      const gw = await startTestGateway({ host: '0.0.0.0', config: { ...EMPTY_CONFIG, adminAllowRemote } });
      try {
        const base = `http://${lan}:${gw.port}`;
        const r = await consoleRequest(base, '/console/sign-in', { form: { token: gw.adminToken } });
        expect(r.status).toBe(403);
        expect(r.headers['set-cookie']).toBeUndefined();
        expect(r.body).toContain(adminAllowRemote ? 'only over TLS' : 'loopback callers only');
        // The same gateway still serves its own machine.
        expect((await consoleRequest(`http://127.0.0.1:${gw.port}`, '/console/sign-in')).status).toBe(200);
      } finally {
        await gw.stop();
      }
    }
  });

  it('serves a remote caller over TLS with allow_remote: the cookie is Secure and __Secure- prefixed, and pages need it', async () => {
    const gw = await startTestGateway({ host: '0.0.0.0', config: { ...EMPTY_CONFIG, adminAllowRemote: true, tls } });
    try {
      const base = `https://localhost:${gw.port}`;
      const remote = { ca: caPem, host: lan };
      expect((await consoleRequest(base, '/console/', remote)).status).toBe(303);
      const { setCookie, cookie } = await signIn(base, gw.adminToken, remote);
      expect(setCookie).toMatch(/^__Secure-heimdall-console=[A-Za-z0-9_-]{43}; Path=\/console; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
      expect((await consoleRequest(base, '/console/devices', { cookie, ...remote })).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});
