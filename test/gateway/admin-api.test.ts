// The admin API over real HTTP against a real SQLite file: happy paths, 400s naming the field, token auth.
import { statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

describe('admin API authentication', () => {
  it('refuses a missing or wrong admin token with 401', async () => {
    const res = await fetch(`${gw.url}/admin/v1/settings`);
    expect(res.status).toBe(401);
    expect((await gw.admin('GET', 'settings', undefined, 'hat_wrong')).status).toBe(401);
    expect((await gw.admin('GET', 'settings', undefined, `${gw.adminToken}x`)).status).toBe(401);
  });

  it('keeps the admin token and the database 0600 in a 0700 data dir', () => {
    expect(statSync(gw.dataDir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(gw.dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(gw.dataDir, 'gateway.db')).mode & 0o777).toBe(0o600);
  });
});

describe('settings', () => {
  it('returns defaults and applies a partial change, merging routing', async () => {
    const before = await gw.admin('GET', 'settings');
    expect(before.body).toEqual({ pending_action: 'allow', fail_mode: 'open', intercept: true, routing: {}, full_resync_s: 300, allow_direct_keys: false, require_verified: [] });
    const changed = await gw.admin('PATCH', 'settings', { pending_action: 'block', routing: { 'codex-cli': 'passthrough', cursor: 'gateway' } });
    expect(changed.status).toBe(200);
    expect(changed.body.pending_action).toBe('block');
    const removed = await gw.admin('PATCH', 'settings', { routing: { cursor: null }, allow_direct_keys: true });
    expect(removed.body.routing).toEqual({ 'codex-cli': 'passthrough' });
    expect(removed.body.allow_direct_keys).toBe(true);
    expect(gw.control.allowDirectKeys()).toBe(true);
  });

  it('answers 400 naming the field, the value sent and the accepted values for a bad value, an unknown field and bad JSON', async () => {
    const bad = await gw.admin('PATCH', 'settings', { fail_mode: 'sideways' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toEqual({ code: 'invalid', field: 'fail_mode', message: 'fail_mode: "sideways" is not accepted; accepted: open, closed' });
    const unknown = await gw.admin('PATCH', 'settings', { pending_actoin: 'block' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.field).toBe('pending_actoin');
    expect(unknown.body.error.message).toBe('unknown field pending_actoin; accepted: pending_action, fail_mode, intercept, routing, full_resync_s, allow_direct_keys, require_verified');
    const nested = await gw.admin('PATCH', 'settings', { routing: { 'codex-cli': 'sideways' } });
    expect(nested.body.error.field).toBe('routing.codex-cli');
    expect(nested.body.error.message).toBe('routing.codex-cli: "sideways" is not accepted; accepted: gateway, passthrough, or null to remove it (back to gateway)');
    const resync = await gw.admin('PATCH', 'settings', { full_resync_s: 5 });
    expect(resync.body.error.field).toBe('full_resync_s');
    expect(resync.body.error.message).toBe('full_resync_s: 5 is not accepted; accepted: a whole number of seconds from 30 to 86400');
    const flag = await gw.admin('PATCH', 'settings', { intercept: 'maybe' });
    expect(flag.body.error.message).toBe('intercept: "maybe" is not accepted; accepted: true, false');
    const notJson = await gw.admin('PATCH', 'settings', '{nope');
    expect(notJson.status).toBe(400);
  });
});

describe('settings naming apps', () => {
  it('requires a verified identity per app, lifts it, refuses an unknown app, and sends it in the policy', async () => {
    const on = await gw.admin('PATCH', 'settings', { require_verified: { 'claude-code': true, 'codex-cli': true } });
    expect(on.status).toBe(200);
    expect(on.body.require_verified).toEqual(['claude-code', 'codex-cli']);
    const off = await gw.admin('PATCH', 'settings', { require_verified: { 'codex-cli': false } });
    expect(off.body.require_verified).toEqual(['claude-code']);
    const typo = await gw.admin('PATCH', 'settings', { require_verified: { 'claude-cod': true } });
    expect(typo.status).toBe(400);
    expect(typo.body.error.field).toBe('require_verified.claude-cod');
    const notBool = await gw.admin('PATCH', 'settings', { require_verified: { 'claude-code': 'yes' } });
    expect(notBool.body.error.message).toBe('require_verified.claude-code: "yes" is not accepted; accepted: true (allow the app only when verified) or false');
    const policy = JSON.parse((await gw.control.policyMessageFor('any-device')).text);
    expect(policy.snapshot.settings.require_verified).toEqual(['claude-code']);
  });


  it('refuses routing for an app id no agent knows, and always lets an earlier one be removed', async () => {
    const typo = await gw.admin('PATCH', 'settings', { routing: { cursr: 'gateway' } });
    expect(typo.status).toBe(400);
    expect(typo.body.error.field).toBe('routing.cursr');
    expect(typo.body.error.message).toMatch(/^no app "cursr" in the catalog; accepted: the apps agents know by name \(claude-code, [^)]*cursor[^)]*\) and the apps agents reported \(/);
    // The refused change changed nothing.
    expect((await gw.admin('GET', 'settings')).body.routing).not.toHaveProperty('cursr');
    // A mode stored before ids were checked can still be removed.
    const settings = await gw.control.store.getSettings();
    await gw.control.store.saveSettings({ ...settings, routing: { ...settings.routing, zed: 'passthrough' } });
    const removed = await gw.admin('PATCH', 'settings', { routing: { zed: null } });
    expect(removed.status).toBe(200);
    expect(removed.body.routing).not.toHaveProperty('zed');
  });
});

describe('catalogs and decisions', () => {
  it('creates an app on a decision, lists it, and records a user exception', async () => {
    await gw.admin('POST', 'keys', { user_email: 'bob@example.com' });
    const approved = await gw.admin('POST', 'apps/cursor/decision', { status: 'approved' });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ id: 'cursor', status: 'approved', fleet_count: 0 });
    const denied = await gw.admin('POST', 'apps/cursor/decision', { status: 'denied', user: 'bob@example.com' });
    expect(denied.body.user_decisions).toEqual([expect.objectContaining({ user_email: 'bob@example.com', status: 'denied' })]);
    const list = await gw.admin('GET', 'apps');
    expect(list.body.apps.map((a: { id: string }) => a.id)).toContain('cursor');
    const cleared = await gw.admin('POST', 'apps/cursor/decision', { status: 'pending', user: 'bob@example.com' });
    expect(cleared.body.user_decisions).toEqual([]);
    expect(cleared.body.status).toBe('approved');
  });

  it('answers 400/404 naming the field for bad decisions', async () => {
    const status = await gw.admin('POST', 'apps/cursor/decision', { status: 'maybe' });
    expect(status.status).toBe(400);
    expect(status.body.error.field).toBe('status');
    const id = await gw.admin('POST', `apps/${encodeURIComponent('bad id!')}/decision`, { status: 'approved' });
    expect(id.status).toBe(400);
    expect(id.body.error.field).toBe('id');
    const user = await gw.admin('POST', 'apps/cursor/decision', { status: 'denied', user: 'nobody@example.com' });
    expect(user.status).toBe(404);
    expect(user.body.error.field).toBe('user');
    expect(status.body.error.message).toBe('status: "maybe" is not accepted; accepted: pending, approved, denied');
    const fp = await gw.admin('POST', 'mcp-servers/short/decision', { status: 'denied' });
    expect(fp.body.error.field).toBe('fingerprint');
  });

  it('refuses a decision on an app id that is neither known to agents nor reported, naming the accepted ids', async () => {
    const typo = await gw.admin('POST', 'apps/cursr/decision', { status: 'approved' });
    expect(typo.status).toBe(404);
    expect(typo.body.error.field).toBe('id');
    expect(typo.body.error.message).toMatch(/^no app "cursr" in the catalog; accepted: the apps agents know by name \(claude-code, [^)]*, curl\) and the apps agents reported \(/);
    expect((await gw.admin('GET', 'apps')).body.apps.map((a: { id: string }) => a.id)).not.toContain('cursr');
  });

  it('decides reported MCP servers by fingerprint, refuses an unreported one with the reported ones, and filters lists by status', async () => {
    const none = await gw.admin('POST', 'mcp-servers/fp-0123456789abcdef/decision', { status: 'denied' });
    expect(none.status).toBe(404);
    expect(none.body.error).toMatchObject({ field: 'fingerprint', message: 'no MCP server "fp-0123456789abcdef" in the catalog; accepted: the fingerprints agents reported (none yet)' });
    const { token } = await enrolledDevice(gw, 'dev-admin-mcp');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('dev-admin-mcp');
    const server = { app: 'claude-code', scope: 'user', config_path: '/home/alice/.claude.json', name: 'github', transport: 'stdio', fingerprint: 'fp-github-0001', command: 'npx', args: [], env_keys: [], header_keys: [], os_user: 'alice' };
    peer.send({ type: 'inventory.mcp', seq: 1, servers: [server], errors: [] });
    await peer.next('ack', (m) => m.seq === 1);
    peer.close();
    const typo = await gw.admin('POST', 'mcp-servers/fp-github-0002/decision', { status: 'denied' });
    expect(typo.body.error.message).toBe('no MCP server "fp-github-0002" in the catalog; accepted: the fingerprints agents reported (fp-github-0001; mcp list (GET /admin/v1/mcp-servers) shows them)');
    const r = await gw.admin('POST', 'mcp-servers/fp-github-0001/decision', { status: 'denied' });
    expect(r.body).toMatchObject({ fingerprint: 'fp-github-0001', status: 'denied' });
    expect((await gw.admin('GET', 'mcp-servers?status=denied')).body.mcp_servers).toEqual([expect.objectContaining({ fingerprint: 'fp-github-0001' })]);
    expect((await gw.admin('GET', 'mcp-servers?status=approved')).body.mcp_servers).toEqual([]);
    const badStatus = await gw.admin('GET', 'apps?status=denyed');
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.message).toBe('status: "denyed" is not accepted; accepted: pending, approved, denied');
  });
});

describe('virtual keys', () => {
  it('shows a key once, lists it without the key, and revokes it', async () => {
    const created = await gw.admin('POST', 'keys', { user_email: 'carol@example.com', name: 'laptop' });
    expect(created.status).toBe(201);
    expect(created.body.key).toMatch(/^sk-bf-[A-Za-z0-9_-]{32}$/);
    const list = await gw.admin('GET', 'keys');
    const listed = list.body.keys.find((k: { id: string }) => k.id === created.body.id);
    expect(listed).toMatchObject({ user: { email: 'carol@example.com' }, name: 'laptop', revoked_at: null });
    expect(JSON.stringify(list.body)).not.toContain(created.body.key);
    expect(await gw.control.verifyVirtualKey(created.body.key)).toMatchObject({ keyId: created.body.id });
    const revoked = await gw.admin('POST', `keys/${created.body.id}/revoke`);
    expect(revoked.body.revoked_at).not.toBeNull();
    expect(await gw.control.verifyVirtualKey(created.body.key)).toBeUndefined();
  });

  it('answers 400 naming user_email for a bad email, 404 for an unknown key', async () => {
    const bad = await gw.admin('POST', 'keys', { user_email: 'not-an-email' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('user_email');
    expect((await gw.admin('POST', 'keys/vk_nope/revoke')).status).toBe(404);
  });
});

describe('routing of unknown paths and methods', () => {
  it('answers 404 for an unknown admin path and 405 for a wrong method', async () => {
    expect((await gw.admin('GET', 'nothing-here')).status).toBe(404);
    expect((await gw.admin('DELETE', 'settings')).status).toBe(405);
  });

  it('answers /healthz with liveness only (unauthenticated: not even the fleet size)', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('validates event queries, naming the parameter', async () => {
    const r = await gw.admin('GET', 'events?since=yesterday');
    expect(r.status).toBe(400);
    expect(r.body.error.field).toBe('since');
    expect(r.body.error.message).toBe('since: "yesterday" is not accepted; accepted: an RFC 3339 time, e.g. 2025-01-31T00:00:00Z');
    const limit = await gw.admin('GET', 'events?limit=lots');
    expect(limit.body.error.message).toBe('limit: "lots" is not accepted; accepted: a whole number from 1 to 1000');
    const ok = await gw.admin('GET', 'events?limit=5');
    expect(ok.body).toEqual({ events: [], next_before: null });
  });
});
