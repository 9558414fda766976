// The gateway store contract, one aggregate at a time, run against both implementations on real
// databases (a SQLite file; a PostgreSQL 15 server): each module keeps its own rules (revocation,
// token replacement, replay protection, sightings) behind the composed door, identically.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { DEFAULT_SETTINGS, type GatewayStore } from '../../gateway/src/store/index.ts';
import { at } from '../gateway/helpers.ts';
import { postgresBackend, sqliteBackend, type Backend, type ContractStore } from './backends.ts';

describe.each<Backend>([sqliteBackend(), postgresBackend()])('$name store', (backend) => {
let store: ContractStore;
let clock: ManualClock;
const iso = () => new Date(clock.now()).toISOString();

beforeAll(() => backend.start());
afterAll(() => backend.stop());

beforeEach(async () => {
  await backend.fresh();
  clock = new ManualClock();
  store = await backend.open(clock);
});

afterEach(async () => {
  await store.close();
  await backend.drop();
});

const facts = { hostname: 'h', os: 'linux', osVersion: null, arch: null, agentVersion: null };

async function enrolled(s: GatewayStore, osUser = 'alice', token = 'tok-1'): Promise<{ userId: string; keyId: string }> {
  const user = await s.ensureUser('alice@example.com');
  const key = (await s.listVirtualKeys())[0] ?? (await s.createVirtualKey({ id: 'key-1', userId: user.id, keyHash: 'kh', prefix: 'sk-bf-1', name: null }));
  await s.enrollDevice({ deviceId: 'dev-1', facts, publicKey: 'pk-dev-1', osUser, userId: user.id, keyId: key.id });
  await s.issueDeviceToken({ tokenId: token, tokenHash: `${token}-hash`, deviceId: 'dev-1', expiresAt: new Date(clock.now() + 900_000).toISOString() });
  return { userId: user.id, keyId: key.id };
}

describe('users and keys', () => {
  it('finds a user by id or by email in any case, and keeps the first revocation time', async () => {
    const user = await store.keys.ensureUser('Alice@Example.com');
    expect(await store.keys.ensureUser('alice@example.com')).toEqual(user);
    expect(await store.keys.findUser(user.id)).toEqual(user);
    await store.keys.createVirtualKey({ id: 'key-1', userId: user.id, keyHash: 'kh', prefix: 'sk-bf-1', name: 'laptop' });
    clock.advance(60_000);
    const revokedAt = iso();
    expect((await store.keys.revokeVirtualKey('key-1'))?.revokedAt).toBe(revokedAt);
    clock.advance(60_000);
    expect((await store.keys.revokeVirtualKey('key-1'))?.revokedAt).toBe(revokedAt);
    expect(await store.keys.revokeVirtualKey('nope')).toBeUndefined();
  });
});

describe('devices', () => {
  it('keeps the first key and owner, ends tokens at their expiry, and refuses them once the device is revoked', async () => {
    await enrolled(store, 'alice', 'tok-1');
    expect((await store.devices.getDevice('dev-1'))?.enrolledAt).toBe(iso());
    const bob = await store.keys.ensureUser('bob@example.com');
    await store.keys.createVirtualKey({ id: 'key-b', userId: bob.id, keyHash: 'kb', prefix: 'sk-bf-b', name: null });
    // A later sign-in on the same device never moves the owner or the bound key.
    await store.devices.enrollDevice({ deviceId: 'dev-1', facts, publicKey: 'pk-other', osUser: 'bob', userId: bob.id, keyId: 'key-b' });
    expect(await store.devices.getDevice('dev-1')).toMatchObject({ ownerEmail: 'alice@example.com', publicKey: 'pk-dev-1' });
    expect([...(await store.devices.deviceUserMap('dev-1')).keys()]).toEqual(['alice', 'bob']);
    await enrolled(store, 'alice', 'tok-2');
    expect((await store.devices.findDeviceToken('tok-1-hash'))?.refused).toBeUndefined();
    clock.advance(900_001);
    expect((await store.devices.findDeviceToken('tok-2-hash'))?.refused).toBe('token_expired');
    await enrolled(store, 'alice', 'tok-3');
    await store.devices.revokeDevice('dev-1');
    expect((await store.devices.findDeviceToken('tok-3-hash'))?.refused).toBe('device_revoked');
    // Revoking a key signs its user out; the device keeps its other users.
    expect(await store.devices.signOutKey('key-b')).toEqual(['dev-1']);
    expect([...(await store.devices.deviceUserMap('dev-1')).keys()]).toEqual(['alice']);
  });
});

describe('events', () => {
  it('stores each seq once, attributes it to the signed-in user, and advances the stream', async () => {
    const { userId } = await enrolled(store);
    const e = (seq: number, osUser?: string) => ({ seq, type: 'request', at: at(seq), ...(osUser ? { os_user: osUser } : {}) });
    expect(await store.events.ingestEvents('dev-1', 's1', [e(1, 'alice'), e(2, 'root')], at(10))).toEqual({ stored: 2, highSeq: 2 });
    expect(await store.events.ingestEvents('dev-1', 's1', [e(2, 'alice'), e(3)], at(11))).toEqual({ stored: 1, highSeq: 3 });
    expect(await store.events.highSeq('dev-1', 's1')).toBe(3);
    const rows = await store.events.queryEvents({ deviceId: 'dev-1', limit: 10 });
    expect(rows.map((r) => [r.seq, r.userId])).toEqual([[3, null], [2, null], [1, userId]]);
  });
});

describe('inventory', () => {
  it('applies a report newer than the stream and counts new catalog items, and ignores a replay', async () => {
    await enrolled(store);
    const apps = [{ app_id: 'curl' }, { app_id: 'codex', display_name: 'Codex' }];
    expect(await store.inventory.replaceAppInventory('dev-1', 's1', 5, apps, at(1))).toEqual({ applied: true, highSeq: 5, newItems: 2 });
    expect(await store.inventory.replaceAppInventory('dev-1', 's1', 5, [], at(2))).toEqual({ applied: false, highSeq: 5, newItems: 0 });
    expect((await store.inventory.deviceInventory('dev-1')).apps.map((a) => a.app_id)).toEqual(['codex', 'curl']);
    expect((await store.catalog.listCatalog('app')).map((c) => [c.id, c.status, c.fleetCount])).toEqual([['codex', 'pending', 1], ['curl', 'pending', 1]]);
    // A later report without curl drops its inventory sighting: the fleet count follows.
    await store.inventory.replaceAppInventory('dev-1', 's1', 6, [{ app_id: 'codex' }], at(3));
    expect((await store.catalog.getCatalogItem('app', 'curl'))?.fleetCount).toBe(0);
  });
});

describe('settings and policy version', () => {
  it('fills unsaved settings from the defaults and bumps the version from 1', async () => {
    expect(await store.settings.getSettings()).toEqual(DEFAULT_SETTINGS);
    expect(await store.settings.policyVersion()).toBe(1);
    expect(await store.settings.saveSettings({ ...DEFAULT_SETTINGS, fail_mode: 'closed' })).toBe(2);
    expect((await store.settings.getSettings()).fail_mode).toBe('closed');
    expect(await store.settings.bumpPolicyVersion()).toBe(3);
    expect(await store.settings.bumpPolicyVersion()).toBe(4);
  });

  it('bumps the policy version in the transaction of every policy write, and not for a write that changed nothing or failed', async () => {
    const { userId } = await enrolled(store);
    await store.catalog.recordSightings('dev-1', [{ kind: 'app', id: 'codex' }, { kind: 'app', id: 'zed' }], at(1), 'inventory');
    // Sightings are not policy: new pending items never change the snapshot.
    expect(await store.settings.policyVersion()).toBe(1);
    expect(await store.setGlobalDecision('app', 'codex', 'denied', at(2))).toBe(2);
    expect(await store.setUserDecision('app', 'codex', userId, 'approved', at(3))).toBe(3);
    expect(await store.setUserDecision('app', 'codex', userId, undefined, at(4))).toBe(4);
    expect(await store.saveSettings({ ...DEFAULT_SETTINGS, fail_mode: 'closed' })).toBe(5);
    expect(await store.mergeCatalogItem('app', 'zed', 'codex')).toBe(6);
    expect(await store.mergeCatalogItem('app', 'zed', 'codex')).toBeUndefined();
    expect(await store.deleteCatalogItems('app', ['nope'])).toEqual({ deleted: 0, version: undefined });
    expect(await store.deleteCatalogItems('app', ['codex'])).toEqual({ deleted: 1, version: 7 });
    // A write that fails (a decision for a user who does not exist) rolls back its bump with it.
    // (Wrapped: SQLite's modules throw synchronously.)
    await expect((async () => store.setUserDecision('app', 'curl', 'no-such-user', 'approved', at(5)))()).rejects.toThrow(/foreign key/i);
    expect(await store.settings.policyVersion()).toBe(7);
    expect(await store.catalog.getCatalogItem('app', 'curl')).toBeUndefined();
  });

  it('remembers a rotated-away admin token hash as retired', async () => {
    expect(await store.adminTokenHash()).toBeUndefined();
    await store.setAdminTokenHash('a'.repeat(64));
    await store.setAdminTokenHash('a'.repeat(64));
    expect(await store.adminTokenRetired('a'.repeat(64))).toBe(false);
    await store.setAdminTokenHash('b'.repeat(64));
    expect(await store.adminTokenHash()).toBe('b'.repeat(64));
    expect(await store.adminTokenRetired('a'.repeat(64))).toBe(true);
    expect(await store.adminTokenRetired('b'.repeat(64))).toBe(false);
  });
});

describe('gateway events', () => {
  it('writes a turn\'s gateway events together: a read right after sees them all, and a close writes those still waiting', async () => {
    const recorded = [1, 2, 3].map((i) => store.recordGatewayEvent({ type: 'inference.request', at: at(i), app: 'codex', attrs: { n: i } }));
    expect((await store.queryEvents({ limit: 10 })).map((e) => e.attrs['n'])).toEqual([3, 2, 1]);
    await Promise.all(recorded);
    expect(await store.countEvents({ types: ['inference.request'], sinceDay: '2025-01-01' })).toBe(3);
    void store.recordGatewayEvent({ type: 'inference.request', at: at(4), app: 'codex', attrs: { n: 4 } });
    await store.close();
    store = await backend.open(clock);
    expect(await store.countEvents({ types: ['inference.request'], sinceDay: '2025-01-01' })).toBe(4);
  });
});

describe('shared by replicas: challenges and console sessions', () => {
  it('generates the challenge key once and keeps it across a reopen', async () => {
    const key = await store.challengeKey();
    expect(key.length).toBe(32);
    expect(await store.challengeKey()).toEqual(key);
    await store.close();
    store = await backend.open(clock);
    expect(await store.challengeKey()).toEqual(key);
  });

  it('consumes a challenge once, and forgets used challenges once they expired', async () => {
    const now = clock.now();
    expect(await store.consumeChallenge('h1', now + 1000, now)).toBe(true);
    expect(await store.consumeChallenge('h1', now + 1000, now)).toBe(false);
    expect(await store.consumeChallenge('h2', now + 5000, now)).toBe(true);
    // At h1's expiry its row goes (a later consume prunes it); h2 is still remembered.
    expect(await store.consumeChallenge('h3', now + 9000, now + 1000)).toBe(true);
    expect(await store.consumeChallenge('h2', now + 5000, now + 1000)).toBe(false);
    const rows = backend.name === 'sqlite'
      ? (store as unknown as { db: { prepare(sql: string): { all(): unknown[] } } }).db.prepare('SELECT challenge_hash FROM used_challenges ORDER BY 1').all()
      : await (store as unknown as { db: { rows(sql: string): Promise<unknown[]> } }).db.rows('SELECT challenge_hash FROM used_challenges ORDER BY 1');
    expect(rows).toEqual([{ challenge_hash: 'h2' }, { challenge_hash: 'h3' }]);
  });

  it('keeps console sessions with their expiry, flash and least-recently-used limit, and ends them by id, method or person', async () => {
    const session = (idHash: string, method: 'admin_token' | 'sso' = 'admin_token', userId: string | null = null) => ({
      idHash, method, userId, adminJson: JSON.stringify({ method }), csrfToken: `csrf-${idHash}`, createdAt: clock.now(), lastSeenAt: clock.now(), flashJson: null,
    });
    const window = (idleMs: number, absoluteMs: number) => ({ now: clock.now(), idleBefore: clock.now() - idleMs, createdBefore: clock.now() - absoluteMs });
    await store.createConsoleSession(session('s1'), 3);
    await store.createConsoleSession(session('s2'), 3);
    await store.createConsoleSession(session('s3', 'sso', 'user-1'), 3);
    // s1 used now: s2 is the least recently used when a fourth arrives over the limit of 3.
    clock.advance(1000);
    expect(await store.useConsoleSession('s1', window(60_000, 600_000), false)).toMatchObject({ idHash: 's1', csrfToken: 'csrf-s1', lastSeenAt: clock.now() });
    await store.createConsoleSession(session('s4'), 3);
    expect(await store.useConsoleSession('s2', window(60_000, 600_000), false)).toBeUndefined();
    expect(await store.countConsoleSessions()).toBe(3);
    // A flash is shown once when taken.
    await store.setConsoleFlash('s1', '{"kind":"ok","text":"saved"}');
    expect((await store.useConsoleSession('s1', window(60_000, 600_000), false))?.flashJson).toBe('{"kind":"ok","text":"saved"}');
    expect((await store.useConsoleSession('s1', window(60_000, 600_000), true))?.flashJson).toBe('{"kind":"ok","text":"saved"}');
    expect((await store.useConsoleSession('s1', window(60_000, 600_000), true))?.flashJson).toBeNull();
    // Idle past the limit: gone.
    clock.advance(60_000);
    expect(await store.useConsoleSession('s4', window(60_000, 600_000), false)).toBeUndefined();
    // Absolute limit: s1 is used, but created too long ago.
    expect(await store.useConsoleSession('s1', window(60_000, 61_000), false)).toBeUndefined();
    await store.createConsoleSession(session('s5'), 10);
    await store.createConsoleSession(session('s6', 'sso', 'user-2'), 10);
    await store.createConsoleSession(session('s7', 'sso', 'user-2'), 10);
    expect(await store.endConsoleSessions({ userId: 'user-2' })).toBe(2);
    expect(await store.endConsoleSessions({ method: 'admin_token' })).toBe(1);
    expect(await store.endConsoleSessions({ idHash: 's5' })).toBe(0);
  });
});

describe('catalogs', () => {
  it('decides globally and per user, merges and deletes items with their sightings, and pages by id with a search', async () => {
    const { userId } = await enrolled(store);
    expect(await store.catalog.recordSightings('dev-1', [{ kind: 'app', id: 'codex' }, { kind: 'app', id: 'codex' }, { kind: 'app', id: 'Cursor_1' }], at(1), 'request')).toBe(2);
    expect(await store.catalog.recordSightings('dev-1', [{ kind: 'app', id: 'codex', displayName: 'Codex' }], at(2), 'inventory')).toBe(0);
    expect(await store.catalog.itemsAddedBy('dev-1')).toBe(2);
    expect(await store.catalog.countUnknown('app', ['codex', 'zed', 'zed'])).toBe(1);
    // Nothing decided yet: the snapshot carries nothing.
    expect(await store.catalog.policyItems()).toEqual([]);
    await store.catalog.setGlobalDecision('app', 'codex', 'denied', at(3));
    await store.catalog.setUserDecision('app', 'Cursor_1', userId, 'approved', at(4));
    expect(await store.catalog.policyItems()).toEqual([
      { kind: 'app', id: 'Cursor_1', displayName: null, status: 'pending' },
      { kind: 'app', id: 'codex', displayName: 'Codex', status: 'denied' },
    ]);
    expect(await store.catalog.userDecisions()).toEqual([{ kind: 'app', itemId: 'Cursor_1', userId, status: 'approved' }]);
    const codex = await store.catalog.getCatalogItem('app', 'codex');
    expect(codex).toMatchObject({ status: 'denied', decidedAt: at(3), firstSeenAt: at(1), lastSeenAt: at(2), fleetCount: 1, userDecisions: [] });
    // `_` and `%` in a search are literal; the search ignores case.
    expect((await store.catalog.catalogPage('app', { search: 'r_1', limit: 10 })).items.map((i) => i.id)).toEqual(['Cursor_1']);
    expect((await store.catalog.catalogPage('app', { search: 'r%', limit: 10 })).total).toBe(0);
    expect((await store.catalog.catalogPage('app', { search: 'CODEX', limit: 10 })).items.map((i) => i.id)).toEqual(['codex']);
    const first = await store.catalog.catalogPage('app', { limit: 1 });
    expect([first.total, first.items.map((i) => i.id)]).toEqual([2, ['Cursor_1']]);
    expect((await store.catalog.catalogPage('app', { after: 'Cursor_1', limit: 5 })).items.map((i) => i.id)).toEqual(['codex']);
    expect(await store.catalog.catalogCounts()).toEqual(expect.arrayContaining([{ kind: 'app', status: 'denied', count: 1 }, { kind: 'app', status: 'pending', count: 1 }]));
    // The per-user decision follows a merge; the target keeps its own status.
    expect(await store.catalog.mergeCatalogItem('app', 'Cursor_1', 'codex')).toBe(4);
    expect(await store.catalog.mergeCatalogItem('app', 'Cursor_1', 'codex')).toBeUndefined();
    expect(await store.catalog.getCatalogItem('app', 'codex')).toMatchObject({ status: 'denied', fleetCount: 1, userDecisions: [{ userId, status: 'approved' }] });
    expect(await store.catalog.deleteCatalogItems('app', ['codex', 'codex', 'nope'])).toEqual({ deleted: 1, version: 5 });
    expect(await store.catalog.listCatalog('app')).toEqual([]);
    expect(await store.catalog.userDecisions()).toEqual([]);
  });
});

describe('the console\'s pages', () => {
  it('pages devices by hostname with a literal search, counts events per day, and places MCP servers', async () => {
    const { userId, keyId } = await enrolled(store);
    for (const [id, hostname, os] of [['dev-2', 'build_01', 'linux'], ['dev-3', 'buildx01', 'darwin'], ['dev-4', 'alpha', 'linux']] as const) {
      await store.devices.enrollDevice({ deviceId: id, facts: { ...facts, hostname, os }, publicKey: `pk-${id}`, osUser: 'alice', userId, keyId });
    }
    expect((await store.devices.devicePage({ search: 'D_0', limit: 10 })).map((d) => d.id)).toEqual(['dev-2']);
    expect((await store.devices.devicePage({ os: 'linux', limit: 2 })).map((d) => d.hostname)).toEqual(['alpha', 'build_01']);
    expect((await store.devices.devicePage({ after: { hostname: 'build_01', id: 'dev-2' }, limit: 10 })).map((d) => d.id)).toEqual(['dev-3', 'dev-1']);
    expect((await store.devices.deviceStatusRows()).filter((r) => r.revoked)).toEqual([]);
    await store.events.ingestEvents('dev-1', 's', [{ seq: 1, type: 'block', at: at(5), app: 'codex' }, { seq: 2, type: 'request', at: '2025-01-02T10:00:00+02:00', app: 'codex' }], at(6));
    await store.events.recordGatewayEvent({ type: 'request', at: '2025-01-02T09:00:00.000Z', userId, attrs: { status: 200 } });
    expect(await store.events.countEvents({ types: ['request', 'block'], sinceDay: '2025-01-01' })).toBe(3);
    expect(await store.events.countEvents({ types: ['request'], sinceDay: '2025-01-03' })).toBe(0);
    expect(await store.events.eventCountsByDay({ types: ['request'], sinceDay: '2025-01-01' })).toEqual([
      { app: null, day: '2025-01-02', count: 1 },
      { app: 'codex', day: '2025-01-02', count: 1 },
    ]);
    // Times are stored in UTC whatever offset the agent used.
    expect((await store.events.queryEvents({ userId, limit: 10 })).map((e) => [e.source, e.at, e.attrs])).toEqual([['gateway', '2025-01-02T09:00:00.000Z', { status: 200 }]]);
    expect((await store.events.queryEvents({ deviceId: 'dev-1', since: '2025-01-02T00:00:00.000Z', limit: 10 })).map((e) => e.at)).toEqual(['2025-01-02T08:00:00.000Z']);
    const server = { app: 'claude-code', scope: 'user', config_path: '/home/a/.claude.json', name: 'gh', transport: 'stdio' as const, fingerprint: 'fp-gh', env_keys: ['TOKEN'], header_keys: [], command: 'npx', args: ['gh-mcp'] };
    expect((await store.inventory.replaceMcpInventory('dev-1', 'm', 1, [server], [{ app: 'codex', config_path: '/x', error: 'bad toml' }], at(7))).newItems).toBe(1);
    await store.inventory.replaceMcpInventory('dev-2', 'm', 1, [{ ...server, scope: 'project', config_path: '/p/.mcp.json' }], [], at(7));
    expect(await store.inventory.mcpPlacements(['fp-gh', 'fp-none'])).toEqual({
      placements: [{ fingerprint: 'fp-gh', app: 'claude-code', scope: 'project', devices: 1 }, { fingerprint: 'fp-gh', app: 'claude-code', scope: 'user', devices: 1 }],
      details: [{ fingerprint: 'fp-gh', name: 'gh', transport: 'stdio', command: 'npx', args: ['gh-mcp'], url: null, envKeys: ['TOKEN'], headerKeys: [] }],
    });
    expect(await store.inventory.deviceInventory('dev-1')).toEqual({ apps: [], mcpServers: [server], mcpErrors: [{ app: 'codex', config_path: '/x', error: 'bad toml' }] });
    expect(await store.catalog.getCatalogItem('mcp', 'fp-gh')).toMatchObject({ fleetCount: 2, app: 'claude-code', transport: 'stdio', displayName: 'gh' });
  });
});

describe('SSO', () => {
  it('joins an identity to the user an administrator made, rotates a refresh token once, and revokes families', async () => {
    const admin = await store.keys.ensureUser('Dana@Example.com');
    const dana = await store.sso.upsertSsoUser({ issuer: 'https://idp', subject: 's-1', email: 'dana@example.com', name: 'Dana', groups: ['eng'], newUserId: 'usr_new', at: at(1) });
    expect(dana).toMatchObject({ id: admin.id, email: 'dana@example.com', name: 'Dana', groups: ['eng'], issuer: 'https://idp', disabledAt: null });
    // An address another person holds is not taken over.
    await store.keys.ensureUser('erin@example.com');
    expect((await store.sso.upsertSsoUser({ issuer: 'https://idp', subject: 's-1', email: 'ERIN@example.com', name: 'Dana', groups: [], newUserId: 'usr_x', at: at(2) })).email).toBe('dana@example.com');
    expect((await store.sso.listSsoUsers()).map((u) => u.email)).toEqual(['dana@example.com', 'erin@example.com']);
    await store.sso.setUserDisabled(admin.id, at(3));
    await store.sso.assignVirtualKey(admin.id, 'env.DANA_KEY');
    expect(await store.sso.getSsoUser(admin.id)).toMatchObject({ disabledAt: at(3), assignedVirtualKey: 'env.DANA_KEY', groups: [] });
    const { keyId } = await enrolled(store);
    await store.sso.signInSso({ deviceId: 'dev-1', osUser: 'dana', userId: admin.id, keyId, at: at(4) });
    expect(await store.sso.ssoSeatDevices(admin.id)).toEqual(['dev-1']);
    expect(await store.sso.virtualKeySignIns('dev-1')).toEqual([keyId]);
    await store.sso.createFamily({ id: 'fam-1', userId: admin.id, deviceId: 'dev-1', osUser: 'dana', at: at(5), absoluteExpiresAt: at(99), tokenHash: 'rt-1' });
    expect(await store.sso.rotateRefreshToken({ oldHash: 'rt-1', newHash: 'rt-2', familyId: 'fam-1', at: at(6) })).toBe(true);
    expect(await store.sso.rotateRefreshToken({ oldHash: 'rt-1', newHash: 'rt-3', familyId: 'fam-1', at: at(7) })).toBe(false);
    expect(await store.sso.findRefreshToken('rt-1')).toMatchObject({ rotatedAt: at(6), family: { id: 'fam-1', lastUsedAt: at(6) } });
    // A second sign-in of the same OS user replaces the first family.
    await store.sso.createFamily({ id: 'fam-2', userId: admin.id, deviceId: 'dev-1', osUser: 'dana', at: at(8), absoluteExpiresAt: at(99), tokenHash: 'rt-9' });
    expect(await store.sso.getFamily('fam-1')).toMatchObject({ revokedAt: at(8), revokedReason: 'replaced' });
    expect((await store.sso.revokeFamilies({ userId: admin.id }, 'disabled', at(9))).map((f) => [f.id, f.revokedAt, f.revokedReason])).toEqual([['fam-2', at(9), 'disabled']]);
    expect(await store.sso.revokeFamilies({ deviceId: 'dev-1' }, 'again', at(10))).toEqual([]);
    await store.sso.signOutSsoUser(admin.id);
    expect(await store.sso.ssoSeatDevices(admin.id)).toEqual([]);
  });
});

describe('connected state', () => {
  it('keeps one row per device, the newest replica wins, heartbeats move only the beating replica\'s rows, and stale rows stop counting', async () => {
    await enrolled(store);
    const user = (await store.findUser('alice@example.com'))!;
    await store.enrollDevice({ deviceId: 'dev-2', facts, publicKey: 'pk-dev-2', osUser: 'bob', userId: user.id, keyId: 'key-1' });
    await store.recordConnection('dev-1', 'replica-a', at(0));
    await store.recordConnection('dev-2', 'replica-b', at(0));
    expect(await store.connectedDeviceIds(at(0))).toEqual(new Set(['dev-1', 'dev-2']));
    // dev-1 reconnects to B: B holds it now, and A's end of its old connection leaves B's row alone.
    await store.recordConnection('dev-1', 'replica-b', at(1));
    expect(await store.connectionReplica('dev-1')).toBe('replica-b');
    await store.endConnection('dev-1', 'replica-a');
    expect(await store.connectionReplica('dev-1')).toBe('replica-b');
    // One heartbeat statement covers every row of B, none of A's (A has none left).
    expect(await store.heartbeatConnections('replica-b', at(5))).toBe(2);
    expect(await store.heartbeatConnections('replica-a', at(5))).toBe(0);
    await store.recordConnection('dev-2', 'replica-a', at(6));
    // Fresh since at(6): only dev-2 (A's new row); B's beat at(5) is stale by then.
    expect(await store.connectedDeviceIds(at(6))).toEqual(new Set(['dev-2']));
    expect(await store.connectedDeviceIds(at(5))).toEqual(new Set(['dev-1', 'dev-2']));
    // A clean close removes only the closing replica's rows.
    expect(await store.endReplicaConnections('replica-b')).toBe(1);
    expect(await store.connectionReplica('dev-1')).toBeUndefined();
    expect(await store.connectionReplica('dev-2')).toBe('replica-a');
    await store.endConnection('dev-2', 'replica-a');
    expect(await store.connectedDeviceIds(at(0))).toEqual(new Set());
  });
});

describe('the composed door', () => {
  it('answers through the GatewayStore interface what the aggregates hold, and survives a reopen', async () => {
    await store.saveCa({ certPem: 'CERT', keyPem: 'KEY', source: 'uploaded', createdAt: at(0) });
    await store.setGlobalDecision('mcp', 'fp-1', 'denied', at(1));
    await store.close();
    store = await backend.open(clock);
    expect(await store.getCa()).toEqual({ certPem: 'CERT', keyPem: 'KEY', source: 'uploaded', createdAt: at(0) });
    expect(await store.policyItems()).toEqual([{ kind: 'mcp', id: 'fp-1', displayName: null, status: 'denied' }]);
  });
});
});
