// The outbox on a real store file: seqs, acks, inventory replacement, the cap and its gap events.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { MAX_EVENT_BYTES, Outbox, OutboxError, SYNC_MIGRATIONS } from '../../agent/src/sync/index.ts';
import { eventSchema } from '../../protocol/index.ts';
import { seededRng } from './agent-harness.ts';

const opened: { store: Store; dir: string }[] = [];
afterEach(() => {
  for (const o of opened.splice(0)) {
    o.store.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
});

function open(options: { maxRows?: number; maxBytes?: number; dir?: string; recentRows?: { maxRows: number; maxBytes: number } } = {}) {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'heimdall-outbox-'));
  const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [SYNC_MIGRATIONS] });
  if (!options.dir) opened.push({ store, dir });
  const outbox = new Outbox({ db: store.db, logger: silentLogger(), ...options });
  return { store, outbox, dir };
}

const ev = (type: string, ms: number) => ({ type, at: new Date(Date.UTC(2026, 0, 1) + ms).toISOString(), app: 'codex' });

function rows(store: Store) {
  return store.db.prepare<[], { seq: number; kind: string; type: string; payload: string }>('SELECT seq, kind, type, payload FROM sync_outbox ORDER BY seq').all();
}

describe('outbox', () => {
  it('writes a batch in one go with consecutive seqs, skipping only the invalid event', () => {
    const { outbox, store } = open();
    outbox.enqueue(ev('request', 0));
    const result = outbox.enqueueMany([ev('request', 1), { ...ev('request', 2), at: 'not a time' }, ev('block', 3)]);
    expect(result.seqs).toEqual([2, 3]);
    expect(result.rejected.map((r) => r.index)).toEqual([1]);
    expect(result.rejected[0]!.error).toBeInstanceOf(OutboxError);
    expect(result.rejected[0]!.error.message).toMatch(/^event of type "request" is invalid: at: /);
    expect(rows(store).map((r) => [r.seq, r.type])).toEqual([[1, 'request'], [2, 'request'], [3, 'block']]);
    expect(outbox.enqueueMany([])).toEqual({ seqs: [], rejected: [] });
  });

  it('writes prepared events several to an INSERT, in order, with the seqs the table gave them', () => {
    const { outbox, store } = open();
    outbox.enqueue(ev('request', 0));
    // 150 = INSERTs of 64, 64, 16, 4, 1 and 1 rows.
    const prepared = Array.from({ length: 150 }, (_, i) => outbox.prepareEvent(ev(i % 2 ? 'block' : 'request', i + 1)));
    const seqs = outbox.enqueuePrepared(prepared);
    expect(seqs).toEqual(Array.from({ length: 150 }, (_, i) => i + 2));
    const stored = rows(store);
    expect(stored.map((r) => r.seq)).toEqual([1, ...seqs]);
    expect(stored.slice(1).map((r) => (JSON.parse(r.payload) as { at: string }).at)).toEqual(prepared.map((p) => (JSON.parse(p.payload) as { at: string }).at));
    expect(outbox.depth()).toEqual({ rows: 151, bytes: stored.reduce((sum, r) => sum + Buffer.byteLength(r.payload), 0) });
    expect(outbox.enqueue(ev('request', 999))).toBe(152);
  });

  it('refuses to write an event that did not come from prepareEvent', () => {
    const { outbox, store } = open();
    const forged = { type: 'request', payload: '{"type":"request","at":"yesterday"}', bytes: 35, at: 'yesterday' };
    expect(() => outbox.enqueuePrepared([forged as unknown as ReturnType<Outbox['prepareEvent']>])).toThrow(/only events from prepareEvent/);
    expect(rows(store)).toHaveLength(0);
    expect(() => outbox.prepareEvent({ ...ev('request', 1), at: 'yesterday' })).toThrow(OutboxError);
  });

  it('runs what goes alongside in the same transaction: if it throws, the events roll back with it', () => {
    const { outbox, store } = open();
    const prepared = [outbox.prepareEvent(ev('request', 1))];
    let inTransaction = false;
    outbox.enqueuePrepared(prepared, () => { inTransaction = store.db.inTransaction; });
    expect(inTransaction).toBe(true);
    expect(() => outbox.enqueuePrepared([outbox.prepareEvent(ev('request', 2))], () => { throw new Error('disk full'); })).toThrow('disk full');
    expect(rows(store).map((r) => r.seq)).toEqual([1]);
    expect(outbox.depth().rows).toBe(1);
    // Nor does the sender see the rolled-back row.
    expect(outbox.pendingAfter(0, 10).map((r) => r.seq)).toEqual([1]);
  });

  it('gives events strictly increasing seqs and never reuses one after acks empty it', () => {
    const { outbox } = open();
    expect([1, 2, 3].map((i) => outbox.enqueue(ev('request', i)))).toEqual([1, 2, 3]);
    expect(outbox.ack(3)).toBe(3);
    expect(outbox.depth()).toEqual({ rows: 0, bytes: 0 });
    expect(outbox.firstSeq()).toBeNull();
    expect(outbox.enqueue(ev('request', 4))).toBe(4);
    expect(outbox.lastAssignedSeq()).toBe(4);
  });

  it('deletes only up to the acknowledged seq, and ignores nonsense acks', () => {
    const { outbox } = open();
    for (let i = 0; i < 10; i++) outbox.enqueue(ev('request', i));
    expect(outbox.ack(4)).toBe(4);
    expect(outbox.ack(2)).toBe(0);
    expect(outbox.ack(-1)).toBe(0);
    expect(outbox.ack(Number.NaN)).toBe(0);
    expect(outbox.firstSeq()).toBe(5);
    expect(outbox.pendingAfter(0, 100).map((r) => r.seq)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(outbox.pendingAfter(7, 2).map((r) => r.seq)).toEqual([8, 9]);
  });

  it('keeps its stream id and rows across a reopen of the store', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-outbox-'));
    const a = open({ dir });
    a.outbox.enqueue(ev('request', 1));
    const stream = a.outbox.stream;
    a.store.close();
    const b = open({ dir });
    opened.push({ store: b.store, dir });
    expect(b.outbox.stream).toBe(stream);
    expect(b.outbox.depth().rows).toBe(1);
    expect(b.outbox.enqueue(ev('request', 2))).toBe(2);
  });

  it('refuses an invalid or oversized event at enqueue, naming the problem', () => {
    const { outbox } = open();
    expect(() => outbox.enqueue({ type: 'Not A Type', at: new Date().toISOString() })).toThrow(OutboxError);
    expect(() => outbox.enqueue({ type: 'request', at: 'yesterday' })).toThrow(/at/);
    expect(() => outbox.enqueue({ type: 'request', at: new Date().toISOString(), attrs: { big: 'x'.repeat(4000), b2: 'x'.repeat(4000), b3: 'x'.repeat(4000), b4: 'x'.repeat(4000), b5: 'x'.repeat(1000) } })).toThrow(
      new RegExp(`limit is ${MAX_EVENT_BYTES}`),
    );
    expect(outbox.depth().rows).toBe(0);
  });

  it('replaces an unsent inventory report with the newer one of the same kind', () => {
    const { outbox, store } = open();
    outbox.enqueue(ev('request', 1));
    outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }] });
    outbox.enqueueInventory({ type: 'inventory.mcp', servers: [], errors: [] });
    outbox.enqueue(ev('request', 2));
    const latest = outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }, { app_id: 'claude-code' }] });
    const r = rows(store);
    expect(r.map((x) => x.kind)).toEqual(['event', 'inventory.mcp', 'event', 'inventory.apps']);
    expect(r.filter((x) => x.kind === 'inventory.apps')).toHaveLength(1);
    expect(r.at(-1)!.seq).toBe(latest);
    expect(JSON.parse(r.at(-1)!.payload).apps).toHaveLength(2);
    expect(outbox.depth().rows).toBe(4);
  });

  it('summarises the oldest audit events into one counted gap event at the row cap, never dropping silently', () => {
    const { outbox, store } = open({ maxRows: 100 });
    outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }] });
    const types = ['request', 'block', 'request', 'mcp.enforced'];
    const total = 150;
    for (let i = 0; i < total; i++) outbox.enqueue(ev(types[i % types.length]!, i * 1000));
    const r = rows(store);
    expect(r.length).toBeLessThanOrEqual(100);
    const gaps = r.filter((x) => x.type === 'gap');
    expect(gaps).toHaveLength(1); // successive compactions merge into one gap
    const gap = JSON.parse(gaps[0]!.payload) as { type: string; at: string; attrs: Record<string, number | string> };
    expect(eventSchema.safeParse({ ...gap, seq: gaps[0]!.seq }).success).toBe(true);
    const remainingEvents = r.filter((x) => x.kind === 'event' && x.type !== 'gap');
    // Conservation: events summarised + events still queued = events enqueued.
    expect(Number(gap.attrs['count']) + remainingEvents.length).toBe(total);
    const perType = Object.entries(gap.attrs).filter(([k]) => k.startsWith('count.'));
    expect(perType.reduce((n, [, v]) => n + Number(v), 0)).toBe(gap.attrs['count']);
    // The gap covers a contiguous prefix of the event seqs (the inventory report took seq 1).
    expect(gap.attrs['first_seq']).toBe(2);
    expect(gap.attrs['last_seq']).toBe(gaps[0]!.seq);
    expect(remainingEvents[0]!.seq).toBe(Number(gap.attrs['last_seq']) + 1);
    // Per-type counts match what was summarised.
    const summarised = Number(gap.attrs['count']);
    const expected: Record<string, number> = {};
    for (let i = 0; i < summarised; i++) expected[types[i % types.length]!] = (expected[types[i % types.length]!] ?? 0) + 1;
    for (const [type, n] of Object.entries(expected)) expect(gap.attrs[`count.${type}`]).toBe(n);
    expect(gap.attrs['first_at']).toBe(new Date(Date.UTC(2026, 0, 1)).toISOString());
    expect(gap.attrs['last_at']).toBe(new Date(Date.UTC(2026, 0, 1) + (summarised - 1) * 1000).toISOString());
    // Inventory is never summarised.
    expect(r.filter((x) => x.kind === 'inventory.apps')).toHaveLength(1);
    expect(outbox.depth().rows).toBe(r.length);
  });

  it('also caps by bytes', () => {
    const { outbox, store } = open({ maxRows: 1_000_000, maxBytes: 4 * MAX_EVENT_BYTES });
    for (let i = 0; i < 100; i++) outbox.enqueue({ ...ev('request', i), attrs: { pad: 'y'.repeat(2000) } });
    const bytes = store.db.prepare<[], { b: number }>('SELECT SUM(bytes) AS b FROM sync_outbox').get()!.b;
    expect(bytes).toBeLessThanOrEqual(4 * MAX_EVENT_BYTES);
    expect(outbox.depth().bytes).toBe(bytes);
    const gap = rows(store).find((x) => x.type === 'gap')!;
    const remaining = rows(store).filter((x) => x.type === 'request').length;
    expect(Number(JSON.parse(gap.payload).attrs.count) + remaining).toBe(100);
  });

  it('folds more event types than the protocol has attributes for into count.other, still adding up', () => {
    const { outbox, store } = open({ maxRows: 10 });
    for (let i = 0; i < 200; i++) outbox.enqueue(ev(`type-${i}`, i));
    const gap = rows(store).find((x) => x.type === 'gap')!;
    const attrs = JSON.parse(gap.payload).attrs as Record<string, number>;
    expect(Object.keys(attrs).length).toBeLessThanOrEqual(64);
    expect(attrs['count.other']).toBeGreaterThan(0);
    const sum = Object.entries(attrs).filter(([k]) => k.startsWith('count.')).reduce((n, [, v]) => n + v, 0);
    expect(sum).toBe(attrs['count']);
    expect(eventSchema.safeParse({ ...JSON.parse(gap.payload), seq: gap.seq }).success).toBe(true);
  });

  it('quarantines rows that fail the protocol into a gap event instead of blocking or dropping them', () => {
    const { outbox, store } = open();
    outbox.enqueue(ev('request', 1));
    // A row written by an older build that a stricter schema now refuses.
    store.db.prepare("INSERT INTO sync_outbox (kind, type, payload, bytes, created_at) VALUES ('event', 'Bad Type', '{\"type\":\"Bad Type\",\"at\":\"x\"}', 30, '2026-01-01T00:00:00.000Z')").run();
    outbox.quarantine([2], 'test');
    const r = rows(store);
    expect(r.map((x) => x.type)).toEqual(['request', 'gap']);
    expect(JSON.parse(r[1]!.payload).attrs.count).toBe(1);
  });
});

/** The rows the sender would get from the table itself: the reference the in-memory copy must equal. */
function tableAfter(store: Store, after: number, limit: number) {
  return store.db
    .prepare<[number, number], { seq: number; kind: string; type: string; payload: string; bytes: number }>(
      'SELECT seq, kind, type, payload, bytes FROM sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?',
    )
    .all(after, limit);
}

describe('outbox rows kept for the sender', () => {
  it('hands out exactly what the table holds through any mix of writes, acks, the cap, quarantine, rollbacks, other writers and restarts', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-outbox-'));
    // Bounds small enough that the copy is trimmed by rows, then by bytes, and overlaps the cap's compaction.
    const limitsBy = [{ maxRows: 1000, maxBytes: 3000 }, { maxRows: 7, maxBytes: 64 * 1024 }];
    let { store, outbox } = open({ dir, maxRows: 40, recentRows: limitsBy[0]! });
    const rng = seededRng(22);
    let ms = 0;
    const event = () => ev(rng() < 0.8 ? 'request' : 'block', ms++);
    try {
      for (let step = 0; step < 600; step++) {
        const r = rng();
        if (r < 0.3) {
          outbox.enqueuePrepared(Array.from({ length: 1 + Math.floor(rng() * 90) }, () => outbox.prepareEvent(event())));
        } else if (r < 0.45) {
          outbox.enqueue(event());
        } else if (r < 0.5) {
          if (rng() < 0.5) outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }] });
          else outbox.enqueueInventory({ type: 'inventory.mcp', servers: [], errors: [] });
        } else if (r < 0.65) {
          const first = outbox.firstSeq() ?? outbox.lastAssignedSeq();
          outbox.ack(first + Math.floor(rng() * 30));
        } else if (r < 0.7) {
          const seq = tableAfter(store, Math.floor(rng() * outbox.lastAssignedSeq()), 1)[0]?.seq;
          if (seq !== undefined) outbox.quarantine([seq], 'test');
        } else if (r < 0.75) {
          expect(() => outbox.enqueuePrepared([outbox.prepareEvent(event())], () => { throw new Error('disk full'); })).toThrow('disk full');
        } else if (r < 0.8) {
          // Inside someone else's transaction, which then rolls back or commits.
          if (rng() < 0.5) expect(() => store.db.transaction(() => { outbox.enqueue(event()); throw new Error('outer'); })()).toThrow('outer');
          else store.db.transaction(() => outbox.enqueue(event()))();
        } else if (r < 0.85) {
          // Another writer adds a row (as an older build's rows look after a restart), then this one writes.
          store.db.prepare("INSERT INTO sync_outbox (kind, type, payload, bytes, created_at) VALUES ('event', 'request', ?, 60, ?)")
            .run(JSON.stringify(event()), new Date().toISOString());
          outbox.enqueue(event());
        } else if (r < 0.88) {
          store.close();
          ({ store, outbox } = open({ dir, maxRows: 40, recentRows: limitsBy[Math.floor(rng() * 2)]! }));
        }
        const last = outbox.lastAssignedSeq();
        for (const after of [0, Math.floor(rng() * last), last - 3, last - 1, last]) {
          const limit = 1 + Math.floor(rng() * 20);
          expect(outbox.pendingAfter(after, limit), `step ${step}, after ${after}`).toEqual(tableAfter(store, after, limit));
        }
        const counted = store.db.prepare<[], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM sync_outbox').get()!;
        expect(outbox.depth()).toEqual({ rows: counted.n, bytes: counted.b ?? 0 });
      }
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives the sender the rows this run committed without reading the table, and acks them with one statement', () => {
    const { outbox, store } = open();
    outbox.enqueuePrepared([1, 2, 3, 4].map((i) => outbox.prepareEvent(ev('request', i))));
    const prepare = vi.spyOn(store.db, 'prepare');
    expect(outbox.pendingAfter(1, 10).map((r) => r.seq)).toEqual([2, 3, 4]);
    expect(prepare).not.toHaveBeenCalled();
    expect(outbox.ack(2)).toBe(2);
    expect(prepare.mock.calls.map((c) => c[0])).toEqual(['DELETE FROM sync_outbox WHERE seq <= ?']);
    expect(rows(store).map((r) => r.seq)).toEqual([3, 4]);
    expect(outbox.depth().rows).toBe(2);
  });

  it('keeps at most its bound in memory and reads older rows from the table (a gateway down for long)', () => {
    const { outbox, store } = open({ recentRows: { maxRows: 5, maxBytes: 64 * 1024 } });
    for (let i = 0; i < 20; i++) outbox.enqueue(ev('request', i));
    const prepare = vi.spyOn(store.db, 'prepare');
    expect(outbox.pendingAfter(15, 10).map((r) => r.seq)).toEqual([16, 17, 18, 19, 20]);
    expect(prepare).not.toHaveBeenCalled();
    expect(outbox.pendingAfter(0, 3).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(prepare).toHaveBeenCalled();
  });

  it('reads from the table what an earlier run left, and keeps what this run writes after it', () => {
    const { outbox, dir } = open();
    for (let i = 0; i < 3; i++) outbox.enqueue(ev('request', i));
    const again = open({ dir });
    again.outbox.enqueue(ev('block', 9));
    expect(again.outbox.pendingAfter(0, 10).map((r) => [r.seq, r.type])).toEqual([[1, 'request'], [2, 'request'], [3, 'request'], [4, 'block']]);
    const prepare = vi.spyOn(again.store.db, 'prepare');
    expect(again.outbox.pendingAfter(3, 10).map((r) => r.seq)).toEqual([4]);
    expect(prepare).not.toHaveBeenCalled();
    again.store.close();
  });
});

describe('the protocol check at enqueue', () => {
  /** What the outbox stored for an event before shapes were remembered: the schema's verdict and output. */
  function reference(event: unknown): string {
    const checked = eventSchema.safeParse({ ...(event as object), seq: 1 });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      return `error: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`;
    }
    const { seq: _seq, ...clean } = checked.data;
    return JSON.stringify(clean);
  }

  function prepared(outbox: Outbox, event: unknown): string {
    try {
      return outbox.prepareEvent(event as Parameters<Outbox['prepareEvent']>[0]).payload;
    } catch (err) {
      expect(err).toBeInstanceOf(OutboxError);
      return `error: ${(err as Error).message.replace(/^event of type "[^"]*" is invalid: /, '')}`;
    }
  }

  const at = '2026-01-01T00:00:00.000Z';
  const request = (attrs: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
    type: 'request', at, app: 'codex', os_user: 'alice',
    attrs: { host: 'api.openai.com', route: '/openai/v1/responses', decision: 'allow', policy_version: 3, status_code: 200, bytes_in: 10, latency_ms: 1.5, identity: 'verified', ...attrs },
    ...top,
  });
  const proto = JSON.parse('{"__proto__": 1, "a": 2}') as Record<string, unknown>;
  // Each valid event first, then variants of the same shape (only `at` or a number differs), then
  // of other shapes: every one must be stored, or refused, exactly as the schema alone would.
  const corpus: unknown[] = [
    request(),
    request({ status_code: 404, bytes_in: 0, latency_ms: 0 }, { at: '2026-12-31T23:59:59.999Z' }),
    request({ status_code: Number.NaN }),
    request({ bytes_in: Number.POSITIVE_INFINITY }),
    request({ latency_ms: Number.NEGATIVE_INFINITY }),
    request({ bytes_in: -1, latency_ms: 1e308, status_code: -0 }),
    request({}, { at: 'yesterday' }),
    request({}, { at: '' }),
    request({}, { at: 1767225600000 }),
    request({}, { at: new Date(0) }),
    request({}, { at: '2026-13-01T00:00:00Z' }),
    request({}, { at: '2026-01-01T00:00:00+02:00' }),
    request({ host: 'x'.repeat(4096) }),
    request({ host: 'x'.repeat(4097) }),
    request({ 'bad key!': 1 }),
    request({ nested: { a: 1 } }),
    request({ list: [1] }),
    request({ flag: true, none: null }),
    request({ flag: false, none: null }),
    request({ flag: 'true', none: null }),
    request({}, { app: 'Not An App!' }),
    request({}, { app: undefined, os_user: undefined }),
    request({}, { os_user: 'u'.repeat(300) }),
    request({}, { extra: 'dropped?' }),
    request({}, { attrs: undefined }),
    request({}, { attrs: [] }),
    request({}, { attrs: proto }),
    request(Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, i]))),
    request(Object.fromEntries(Array.from({ length: 70 }, (_, i) => [`k${i}`, i]))),
    request({ 0: 1, 10: 2, z: 3 }),
    request({ 0: 5, 10: Number.NaN, z: 3 }),
    { type: 'gap', at, attrs: { count: 2 } },
    { type: 'gap', at, attrs: { count: 0 } },
    { type: 'gap', at, attrs: { count: 1.5 } },
    { type: 'Upper', at },
    { type: 'request', at },
    { type: 'request', at: 'later' },
    Object.assign(Object.create(null) as object, request()),
    'request',
  ];

  it('stores or refuses every event exactly as the full schema check does, whatever came before', () => {
    const { outbox } = open();
    const rng = seededRng(7);
    const order = [...corpus, ...corpus, ...Array.from({ length: 300 }, () => corpus[Math.floor(rng() * corpus.length)])];
    for (const [i, event] of order.entries()) {
      expect(prepared(outbox, event), `event ${i % corpus.length}`).toBe(reference(event));
    }
  });

  it('runs the full schema once per shape of event, not for each exchange of the same app, user, host and route', () => {
    const { outbox } = open();
    const full = vi.spyOn(eventSchema, 'safeParse');
    for (let i = 0; i < 10; i++) outbox.prepareEvent(request({ status_code: 200 + i, bytes_in: i, latency_ms: i / 10 }, { at: new Date(Date.UTC(2026, 0, 1) + i).toISOString() }));
    expect(full).toHaveBeenCalledTimes(1);
    outbox.prepareEvent(request({ route: '/openai/v1/chat/completions' }));
    expect(full).toHaveBeenCalledTimes(2);
    full.mockRestore();
  });
});

describe('the outbox table', () => {
  it('indexes only inventory rows: events are written and deleted without an index, reports are still found by kind', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-outbox-'));
    try {
      // A store made before the index changed, with rows waiting.
      const v1 = { ...SYNC_MIGRATIONS, migrations: SYNC_MIGRATIONS.migrations.slice(0, 1) };
      const old = new Store({ stateDir: dir, logger: silentLogger(), migrations: [v1] });
      const oldOutbox = new Outbox({ db: old.db, logger: silentLogger() });
      oldOutbox.enqueue(ev('request', 1));
      oldOutbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }] });
      old.close();

      const { store, outbox } = open({ dir });
      const indexes = store.db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sync_outbox' AND sql IS NOT NULL").all();
      expect(indexes.map((i) => i.name)).toEqual(['sync_outbox_reports']);
      const plan = (sql: string) => store.db.prepare<[string], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all('inventory.apps').map((r) => r.detail).join('; ');
      expect(plan("SELECT COUNT(*) AS n, SUM(bytes) AS b FROM sync_outbox WHERE kind = ? AND kind <> 'event'")).toMatch(/USING (COVERING )?INDEX sync_outbox_reports/);
      expect(plan("DELETE FROM sync_outbox WHERE kind = ? AND kind <> 'event'")).toMatch(/USING (COVERING )?INDEX sync_outbox_reports/);
      const latest = outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'codex' }, { app_id: 'cursor' }] });
      outbox.enqueue(ev('block', 2));
      expect(rows(store).map((r) => [r.seq, r.kind])).toEqual([[1, 'event'], [latest, 'inventory.apps'], [latest + 1, 'event']]);
      expect(outbox.depth().rows).toBe(3);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
