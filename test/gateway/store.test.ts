// The gateway store, one aggregate at a time, on a real SQLite file: each module keeps its own
// rules (revocation, token replacement, replay protection, sightings) behind the composed door.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import { DEFAULT_SETTINGS, SqliteGatewayStore, type GatewayStore } from '../../gateway/src/store/index.ts';
import { at } from './helpers.ts';

let dir: string;
let store: SqliteGatewayStore;
let clock: ManualClock;
const iso = () => new Date(clock.now()).toISOString();

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-store-'));
  clock = new ManualClock();
  store = new SqliteGatewayStore({ dataDir: dir, logger: silentLogger(), clock });
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
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
    await store.settings.saveSettings({ ...DEFAULT_SETTINGS, fail_mode: 'closed' });
    expect((await store.settings.getSettings()).fail_mode).toBe('closed');
    expect(await store.settings.policyVersion()).toBe(1);
    expect(await store.settings.bumpPolicyVersion()).toBe(2);
    expect(await store.settings.bumpPolicyVersion()).toBe(3);
  });
});

describe('the composed door', () => {
  it('answers through the GatewayStore interface what the aggregates hold, and survives a reopen', async () => {
    await store.saveCa({ certPem: 'CERT', keyPem: 'KEY', source: 'uploaded', createdAt: at(0) });
    await store.setGlobalDecision('mcp', 'fp-1', 'denied', at(1));
    await store.close();
    store = new SqliteGatewayStore({ dataDir: dir, logger: silentLogger(), clock });
    expect(await store.getCa()).toEqual({ certPem: 'CERT', keyPem: 'KEY', source: 'uploaded', createdAt: at(0) });
    expect(await store.policyItems()).toEqual([{ kind: 'mcp', id: 'fp-1', displayName: null, status: 'denied' }]);
  });
});
