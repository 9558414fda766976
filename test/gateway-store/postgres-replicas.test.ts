// Several gateway replicas on one real PostgreSQL 15 database: they migrate once, never hand out one
// policy version twice, store an `events` message once when both receive it, and a whole gateway
// started with `store_url` keeps its state there, not in the data dir.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { GATEWAY_DB_FILE, PostgresGatewayStore } from '../../gateway/src/store/index.ts';
import { PG_MIGRATIONS } from '../../gateway/src/store/postgres/schema.ts';
import { startTestGateway } from '../gateway/helpers.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
let n = 0;
const freshDb = () => server.createDatabase(`replicas_${process.pid}_${++n}`);
const open = (url: string, clock = new ManualClock()) => PostgresGatewayStore.open({ url, logger: silentLogger(), clock });

beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(() => server.stop());

describe('PostgreSQL store shared by replicas', () => {
  it('fails with a clear message, not a skip, when PostgreSQL is not installed', async () => {
    await expect(startTestPostgres('/nonexistent/postgresql/15/bin')).rejects.toThrow(/PostgreSQL 15 is not installed: .*initdb is missing.*apt-get install -y postgresql-15/);
  });

  it('migrates once when four replicas start together, under the advisory lock', async () => {
    const url = await freshDb();
    const stores = await Promise.all([open(url), open(url), open(url), open(url)]);
    const rows = await server.sql<{ version: number }>(url.split('/').pop()!.split('?')[0]!, 'SELECT version FROM gw_migrations');
    expect(rows.map((r) => r.version)).toEqual(PG_MIGRATIONS.map((m) => m.version));
    expect(PG_MIGRATIONS.length).toBeGreaterThan(1);
    expect(await stores[3].policyVersion()).toBe(1);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('is ready (ping) only while its schema is the one this build expects', async () => {
    const url = await freshDb();
    const store = await open(url);
    await expect(store.ping()).resolves.toBeUndefined();
    const db = url.split('/').pop()!.split('?')[0]!;
    // A newer replica migrated the database: this one must leave the load balancer's rotation.
    await server.sql(db, "INSERT INTO gw_migrations (version, name) VALUES (99, 'from a newer replica')");
    await expect(store.ping()).rejects.toThrow(`database schema is at version 99; this build expects ${PG_MIGRATIONS.at(-1)!.version}`);
    await server.sql(db, 'DELETE FROM gw_migrations WHERE version = 99');
    await expect(store.ping()).resolves.toBeUndefined();
    await store.close();
  });

  it('never gives two replicas the same policy version', async () => {
    const url = await freshDb();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const versions = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).bumpPolicyVersion()));
    expect(new Set(versions).size).toBe(20);
    expect(Math.max(...versions)).toBe(21);
    expect(await b.policyVersion()).toBe(21);
    await Promise.all([a.close(), b.close()]);
  });

  it('notifies the other replicas from the policy write\'s own transaction', async () => {
    const url = await freshDb();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const heard: number[] = [];
    const arrived = new Promise<void>((resolve) => {
      b.onPolicyChange((v) => {
        heard.push(v);
        resolve();
      });
    });
    await b.policyListener.waitFor('listening');
    // No separate bump: the decision itself commits the version and its notification.
    expect(await a.setGlobalDecision('app', 'codex', 'denied', new Date().toISOString())).toBe(2);
    await arrived;
    expect(heard).toEqual([2]);
    expect(await b.policyVersion()).toBe(2);
    await Promise.all([a.close(), b.close()]);
  });

  it('generates one challenge key when four replicas ask for it together', async () => {
    const url = await freshDb();
    const stores = await Promise.all([open(url), open(url), open(url), open(url)]);
    const keys = await Promise.all(stores.map((s) => s.challengeKey()));
    expect(new Set(keys.map((k) => k.toString('base64'))).size).toBe(1);
    const used = await Promise.all(stores.map((s) => s.consumeChallenge('same', Date.now() + 60_000, Date.now())));
    expect(used.filter(Boolean)).toHaveLength(1);
    await Promise.all(stores.map((s) => s.close()));
  });

  it('stores one events message once when two replicas ingest it at the same time', async () => {
    const url = await freshDb();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const user = await a.ensureUser('alice@example.com');
    await a.createVirtualKey({ id: 'key-1', userId: user.id, keyHash: 'kh', prefix: 'sk-bf-1', name: null });
    await a.enrollDevice({ deviceId: 'dev-1', facts: { hostname: 'h', os: 'linux', osVersion: null, arch: null, agentVersion: null }, publicKey: 'pk', osUser: 'alice', userId: user.id, keyId: 'key-1' });
    const batch = Array.from({ length: 50 }, (_, i) => ({ seq: i + 1, type: 'request', at: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString(), app: 'codex', os_user: 'alice' }));
    const results = await Promise.all([a.ingestEvents('dev-1', 's', batch, batch[0]!.at), b.ingestEvents('dev-1', 's', batch, batch[0]!.at)]);
    expect(results.map((r) => r.stored).sort()).toEqual([0, 50]);
    expect(results.map((r) => r.highSeq)).toEqual([50, 50]);
    expect(await b.queryEvents({ deviceId: 'dev-1', limit: 500 })).toHaveLength(50);
    expect(await b.countEvents({ types: ['request'], sinceDay: '2025-01-01' })).toBe(50);
    await Promise.all([a.close(), b.close()]);
  });

  it('runs a whole gateway on store_url: its state is in PostgreSQL and no SQLite file appears in the data dir', async () => {
    const url = await freshDb();
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-pg-'));
    const gw = await startTestGateway({ dataDir, config: { ...EMPTY_CONFIG, store: { url, password: undefined } } });
    try {
      expect((await gw.admin('PATCH', 'settings', { fail_mode: 'closed' })).status).toBe(200);
      const other = await open(url);
      expect((await other.getSettings()).fail_mode).toBe('closed');
      expect(await other.policyVersion()).toBeGreaterThan(1);
      await other.close();
      expect(existsSync(path.join(dataDir, GATEWAY_DB_FILE))).toBe(false);
    } finally {
      await gw.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start a gateway whose database is unreachable, naming the config key', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-pg-'));
    try {
      const url = `postgres://heimdall@localhost/none?host=${encodeURIComponent(path.join(dataDir, 'no-socket'))}`;
      await expect(startTestGateway({ dataDir, config: { ...EMPTY_CONFIG, store: { url, password: undefined } } })).rejects.toThrow(/gateway database \(config key store_url\)/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
