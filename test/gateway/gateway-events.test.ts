// The gateway's own audit events (one per inference request) on a real SQLite file. They are written
// together a few milliseconds after the first of a batch: each resolves once it is stored, they are
// counted per day like agent events, any read of events sees those still waiting, and a store that
// closes before the batch is due still writes them.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import { SqliteGatewayStore } from '../../gateway/src/store/index.ts';
import { GATEWAY_EVENT_BATCH_MAX } from '../../gateway/src/store/sqlite/events.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function open(dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-events-'))): { store: SqliteGatewayStore; dir: string } {
  if (!dirs.includes(dir)) dirs.push(dir);
  return { store: new SqliteGatewayStore({ dataDir: dir, logger: silentLogger(), clock: new ManualClock() }), dir };
}
const inference = (i: number) => ({ type: 'inference', at: `2026-12-05T10:00:0${i}.000Z`, deviceId: null, app: 'codex', userId: null, attrs: { status: 200, n: i } });

it('stores every event recorded in one turn, resolving each once stored, and counts them per app and day', async () => {
  const { store } = open();
  const recorded = [0, 1, 2].map((i) => store.recordGatewayEvent(inference(i)));
  await Promise.all(recorded);
  const rows = await store.queryEvents({ type: 'inference', limit: 10 });
  expect(rows.map((r) => r.attrs)).toEqual([{ status: 200, n: 2 }, { status: 200, n: 1 }, { status: 200, n: 0 }]);
  expect(await store.countEvents({ types: ['inference'], sinceDay: '2026-12-05' })).toBe(3);
  await store.close();
});

it('writes the events of the turn it closes in: none is lost at shutdown', async () => {
  const { store, dir } = open();
  const recorded = [0, 1, 2, 3].map((i) => store.recordGatewayEvent(inference(i)));
  await store.close();
  await Promise.all(recorded);
  const { store: reopened } = open(dir);
  expect((await reopened.queryEvents({ type: 'inference', limit: 10 })).length).toBe(4);
  await reopened.close();
});

it('shows events still waiting for their batch to any read of events, in the same turn they were recorded', async () => {
  const { store } = open();
  const recorded = [0, 1].map((i) => store.recordGatewayEvent(inference(i)));
  // No await before the reads: the batch is not due yet.
  const [rows, count, byDay] = [
    store.queryEvents({ type: 'inference', limit: 10 }),
    store.countEvents({ types: ['inference'], sinceDay: '2026-12-05' }),
    store.eventCountsByDay({ types: ['inference'], sinceDay: '2026-12-05' }),
  ];
  expect((await rows).map((r) => r.attrs['n'])).toEqual([1, 0]);
  expect(await count).toBe(2);
  expect(await byDay).toEqual([{ app: 'codex', day: '2026-12-05', count: 2 }]);
  await Promise.all(recorded);
  await store.close();
});

it('writes a full batch at once, without waiting for its time', async () => {
  const { store } = open();
  const recorded = Array.from({ length: GATEWAY_EVENT_BATCH_MAX }, (_, i) => store.recordGatewayEvent(inference(i % 10)));
  // Resolved means stored: the last one completed the batch and wrote it in its own call.
  let settled = 0;
  for (const r of recorded) void r.then(() => settled++);
  await Promise.resolve();
  await Promise.resolve();
  expect(settled).toBe(GATEWAY_EVENT_BATCH_MAX);
  await store.close();
});
