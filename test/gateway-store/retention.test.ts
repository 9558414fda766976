// Events retention on both stores: the periodic prune (driven by the store's clock, advanced here)
// removes events past `events_retention_days` and their day counts, and keeps the rest; on
// PostgreSQL, month partitions are made ahead of time and dropped whole once retention passes them.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { RETENTION_INTERVAL_MS, SqliteGatewayStore, type PostgresGatewayStore } from '../../gateway/src/store/index.ts';
import { startTestGateway } from '../gateway/helpers.ts';
import { postgresBackend, sqliteBackend, type Backend, type ContractStore } from './backends.ts';

const facts = { hostname: 'h', os: 'linux', osVersion: null, arch: null, agentVersion: null };

async function enrolled(s: ContractStore): Promise<void> {
  const user = await s.ensureUser('alice@example.com');
  await s.createVirtualKey({ id: 'key-1', userId: user.id, keyHash: 'kh', prefix: 'sk-bf-1', name: null });
  await s.enrollDevice({ deviceId: 'dev-1', facts, publicKey: 'pk', osUser: 'alice', userId: user.id, keyId: 'key-1' });
}

const pg = postgresBackend();

describe.each<Backend>([sqliteBackend(), pg])('$name events retention', (backend) => {
  let clock: ManualClock;
  let store: Awaited<ReturnType<Backend['open']>>;

  beforeAll(() => backend.start());
  afterAll(() => backend.stop());
  beforeEach(async () => {
    await backend.fresh();
    clock = new ManualClock(Date.UTC(2025, 2, 15));
  });
  afterEach(async () => {
    await store.close();
    await backend.drop();
  });

  it('prunes events older than the setting on its schedule, with their day counts, and keeps the rest', async () => {
    store = await backend.open(clock, { eventsRetentionDays: 30 });
    await store.retention!.idle();
    await enrolled(store);
    const times = ['2025-01-10T12:00:00.000Z', '2025-02-13T23:00:00.000Z', '2025-02-20T12:00:00.000Z', '2025-03-14T12:00:00.000Z'];
    await store.ingestEvents('dev-1', 's', times.map((at, i) => ({ seq: i + 1, type: 'request', at, app: 'codex' })), new Date(clock.now()).toISOString());
    await store.recordGatewayEvent({ type: 'request', at: '2025-01-11T00:00:00.000Z', attrs: {} });
    // Nothing moves before the next run is due.
    clock.advance(RETENTION_INTERVAL_MS - 1);
    await store.retention!.idle();
    expect(await store.queryEvents({ limit: 10 })).toHaveLength(5);
    clock.advance(1);
    // The cutoff is 30 days before now (2025-02-13T06:00Z): 2025-02-13T23:00 is kept, its day's count too.
    expect(await store.retention!.idle()).toBe(2);
    expect((await store.queryEvents({ limit: 10 })).map((e) => e.at)).toEqual(['2025-03-14T12:00:00.000Z', '2025-02-20T12:00:00.000Z', '2025-02-13T23:00:00.000Z']);
    expect(await store.eventCountsByDay({ types: ['request'], sinceDay: '2025-01-01' })).toEqual([
      { app: 'codex', day: '2025-02-13', count: 1 },
      { app: 'codex', day: '2025-02-20', count: 1 },
      { app: 'codex', day: '2025-03-14', count: 1 },
    ]);
    // The stream's high seq stays: replays of pruned events are still recognised and not stored again.
    expect(await store.ingestEvents('dev-1', 's', [{ seq: 1, type: 'request', at: times[0]! }], times[3]!)).toEqual({ stored: 0, highSeq: 4 });
  });

  it('prunes nothing when opened without a retention (what direct users of the store get)', async () => {
    store = await backend.open(clock);
    expect(store.retention).toBeUndefined();
    await enrolled(store);
    await store.ingestEvents('dev-1', 's', [{ seq: 1, type: 'request', at: '2020-01-01T00:00:00.000Z' }], '2025-03-15T00:00:00.000Z');
    clock.advance(10 * RETENTION_INTERVAL_MS);
    expect(await store.queryEvents({ limit: 10 })).toHaveLength(1);
  });
});

describe('PostgreSQL event partitions', () => {
  let store: PostgresGatewayStore;
  beforeAll(() => pg.start());
  afterAll(async () => {
    await store.close();
    await pg.stop();
  });

  it('makes months ahead, moves early arrivals out of the default partition, and drops whole months past retention', async () => {
    await pg.fresh();
    store = (await pg.open(new ManualClock(Date.UTC(2025, 0, 15)))) as unknown as PostgresGatewayStore;
    expect(await store.events.partitions()).toEqual(['2025-01', '2025-02', '2025-03']);
    await enrolled(store);
    // An agent clock months ahead: the event waits in the default partition.
    await store.ingestEvents('dev-1', 's', [{ seq: 1, type: 'request', at: '2025-06-10T00:00:00.000Z' }, { seq: 2, type: 'block', at: '2025-01-20T00:00:00.000Z' }], '2025-01-20T00:00:00.000Z');
    const where = () => pg.server().sql<{ part: string; seq: number }>(pg.url().split('/').pop()!.split('?')[0]!, 'SELECT tableoid::regclass::text AS part, seq::int AS seq FROM events ORDER BY seq');
    expect(await where()).toEqual([{ part: 'events_y2025m01', seq: 2 }, { part: 'events_default', seq: 1 }].sort((a, b) => a.seq - b.seq));
    expect(await store.events.ensurePartitions(Date.UTC(2025, 4, 3))).toEqual(['2025-05', '2025-06', '2025-07']);
    expect((await where()).find((r) => r.seq === 1)?.part).toBe('events_y2025m06');
    // Twice is a no-op (replicas run it too).
    expect(await store.events.ensurePartitions(Date.UTC(2025, 4, 3))).toEqual([]);
    expect(await store.events.pruneEvents('2025-03-01T00:00:00.000Z')).toBe(1);
    expect(await store.events.partitions()).toEqual(['2025-03', '2025-05', '2025-06', '2025-07']);
    expect((await store.queryEvents({ limit: 10 })).map((e) => e.seq)).toEqual([1]);
  });
});

describe('the gateway applies events_retention_days', () => {
  it('prunes its store with the configured days (SQLite, the default store)', async () => {
    const clock = new ManualClock(Date.UTC(2025, 2, 15));
    const gw = await startTestGateway({ clock, config: { ...EMPTY_CONFIG, eventsRetentionDays: 2 } });
    try {
      const store = gw.store as SqliteGatewayStore;
      expect(store).toBeInstanceOf(SqliteGatewayStore);
      await store.recordGatewayEvent({ type: 'request', at: '2025-03-12T00:00:00.000Z', attrs: {} });
      await store.recordGatewayEvent({ type: 'request', at: '2025-03-14T00:00:00.000Z', attrs: {} });
      clock.advance(RETENTION_INTERVAL_MS);
      expect(await store.retention!.idle()).toBe(1);
      expect((await store.queryEvents({ limit: 10 })).map((e) => e.at)).toEqual(['2025-03-14T00:00:00.000Z']);
    } finally {
      await gw.stop();
    }
  });
});
