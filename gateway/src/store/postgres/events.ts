// The audit events on PostgreSQL: table `events`, partitioned by month of the event's time (`at`,
// ISO text in UTC, so text ranges are time ranges), with a default partition for times outside the
// partitions made so far; and `event_day_counts`, kept with every insert for the console's charts.
// Partitions are made ahead of time and dropped whole once retention passes their last day.
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { EdgeEvent } from '../../../../protocol/index.ts';
import type { EventDayCount, EventQuery, EventStore, GatewayEventInput, IngestResult, StoredEvent } from '../types.ts';
import type { PgDatabase, Queryable } from './db.ts';
import type { PgDeviceStore } from './devices.ts';
import type { PgOutboxStreams } from './outbox-streams.ts';
import { type EventRow } from '../rows.ts';

export const EVENT_TABLES = [
  // The primary key and the uniqueness of (device, stream, seq) include `at` because PostgreSQL
  // requires a partitioned table's unique keys to hold the partition key; a replayed event carries the
  // same `at`, so it still conflicts (and the stream lock stops replays before they get here).
  `CREATE TABLE events (
    id BIGSERIAL NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('agent', 'gateway')),
    device_id TEXT,
    stream TEXT,
    seq BIGINT,
    type TEXT NOT NULL,
    at TEXT COLLATE "C" NOT NULL,
    app TEXT,
    os_user TEXT,
    user_id TEXT,
    attrs TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (id, at),
    UNIQUE (device_id, stream, seq, at)
  ) PARTITION BY RANGE (at)`,
  'CREATE TABLE events_default PARTITION OF events DEFAULT',
  'CREATE INDEX events_device ON events (device_id, id)',
  'CREATE INDEX events_app ON events (app, id)',
  'CREATE INDEX events_type ON events (type, id)',
  'CREATE INDEX events_user ON events (user_id, id)',
  'CREATE INDEX events_at ON events (at)',
  `CREATE TABLE event_day_counts (
    day TEXT COLLATE "C" NOT NULL,
    type TEXT NOT NULL,
    app TEXT COLLATE "C" NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, type, app)
  )`,
];

/** Months made ahead of the current one, so inserts never wait for DDL. */
export const PARTITION_MONTHS_AHEAD = 2;
/** Advisory-lock key (`HP`, 1) of partition maintenance: one replica at a time. */
const PARTITION_LOCK: [number, number] = [0x4850, 1];

/** `YYYY-MM` of the month `offset` months after the one holding `ms` (UTC). */
export function monthOf(ms: number, offset = 0): string {
  const d = new Date(ms);
  const m = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1));
  return `${m.getUTCFullYear().toString().padStart(4, '0')}-${(m.getUTCMonth() + 1).toString().padStart(2, '0')}`;
}

const partitionName = (month: string): string => `events_y${month.slice(0, 4)}m${month.slice(5, 7)}`;
const PARTITION_NAME = /^events_y(\d{4})m(\d{2})$/;

/** The next month after `YYYY-MM`. */
const nextMonth = (month: string): string => monthOf(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5, 7)) - 1, 1), 1);

export class PgEventStore implements EventStore {
  readonly #db: PgDatabase;
  readonly #streams: PgOutboxStreams;
  readonly #devices: PgDeviceStore;
  readonly #clock: Clock;

  /** Gateway events of this turn, written together by flushGatewayEvents. */
  #pending: { event: GatewayEventInput; receivedAt: string; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #flushing: Promise<void> = Promise.resolve();

  constructor(db: PgDatabase, streams: PgOutboxStreams, devices: PgDeviceStore, clock: Clock = systemClock) {
    this.#db = db;
    this.#streams = streams;
    this.#devices = devices;
    this.#clock = clock;
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /** Adds counted events to `event_day_counts` (inside the caller's transaction). */
  async #addDayCounts(q: Queryable, stored: readonly { at: string; type: string; app: string | null }[]): Promise<void> {
    const counts = new Map<string, { day: string; type: string; app: string; n: number }>();
    for (const e of stored) {
      const key = `${e.at.slice(0, 10)}\u0000${e.type}\u0000${e.app ?? ''}`;
      const entry = counts.get(key) ?? { day: e.at.slice(0, 10), type: e.type, app: e.app ?? '', n: 0 };
      entry.n++;
      counts.set(key, entry);
    }
    if (counts.size === 0) return;
    const rows = [...counts.values()];
    await q.run(
      `INSERT INTO event_day_counts (day, type, app, count) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
       ON CONFLICT (day, type, app) DO UPDATE SET count = event_day_counts.count + excluded.count`,
      [rows.map((r) => r.day), rows.map((r) => r.type), rows.map((r) => r.app), rows.map((r) => r.n)],
    );
  }

  highSeq(deviceId: string, stream: string): Promise<number> {
    return this.#streams.highSeqIn(this.#db, deviceId, stream);
  }

  skipSeq(deviceId: string, stream: string, seq: number, at: string): Promise<number> {
    return this.#db.tx(async (q) => {
      await this.#streams.advanceIn(q, deviceId, stream, seq, at);
      return this.#streams.highSeqIn(q, deviceId, stream);
    });
  }

  /** One `events` message, one transaction: the stream's lock, the rows, the day counts and the high seq. */
  ingestEvents(deviceId: string, stream: string, events: readonly EdgeEvent[], receivedAt: string): Promise<IngestResult> {
    return this.#db.tx(async (q): Promise<IngestResult> => {
      await this.#streams.lockIn(q, deviceId, stream);
      const high = await this.#streams.highSeqIn(q, deviceId, stream);
      const fresh = events.filter((e) => e.seq > high);
      const top = fresh.reduce((max, e) => Math.max(max, e.seq), high);
      if (fresh.length === 0) return { stored: 0, highSeq: high };
      // Each OS user of the batch is looked up once (a batch comes from one device, one or two users).
      const users = new Map<string, string | null>();
      for (const osUser of new Set(fresh.flatMap((e) => (e.os_user === undefined ? [] : [e.os_user])))) {
        users.set(osUser, await this.#devices.userOfOsUser(q, deviceId, osUser));
      }
      const stored = await q.rows<{ at: string; type: string; app: string | null }>(
        `INSERT INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at)
         SELECT 'agent', $1, $2, seq, type, at, app, os_user, user_id, attrs, $3
         FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[]) WITH ORDINALITY
           AS e(seq, type, at, app, os_user, user_id, attrs, ord)
         ORDER BY ord
         ON CONFLICT DO NOTHING
         RETURNING at, type, app`,
        [
          deviceId, stream, receivedAt,
          fresh.map((e) => e.seq),
          fresh.map((e) => e.type),
          // Stored in UTC so `since` filters and month partitions compare like with like.
          fresh.map((e) => new Date(e.at).toISOString()),
          fresh.map((e) => e.app ?? null),
          fresh.map((e) => e.os_user ?? null),
          fresh.map((e) => (e.os_user === undefined ? null : (users.get(e.os_user) ?? null))),
          fresh.map((e) => JSON.stringify(e.attrs ?? {})),
        ],
      );
      await this.#addDayCounts(q, stored);
      if (top > high) await this.#streams.advanceIn(q, deviceId, stream, top, receivedAt);
      return { stored: stored.length, highSeq: top };
    });
  }

  /**
   * Records a gateway event. The events of one turn of the event loop (a burst of inference
   * requests) are written together, in one transaction with one multi-row INSERT, as SQLite batches
   * them; the promise resolves when its batch committed. Reads of events flush first.
   */
  recordGatewayEvent(event: GatewayEventInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ event, receivedAt: this.#nowIso(), resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => void this.flushGatewayEvents());
    });
  }

  /** Writes the gateway events waiting for their turn's batch (before a read of events, and at close). */
  async flushGatewayEvents(): Promise<void> {
    // 7 parameters a row: 5,000 rows stay well under PostgreSQL's 65,535 parameters a statement.
    const batch = this.#pending.splice(0, 5000);
    if (batch.length === 0) return this.#flushing;
    const write = this.#flushing.then(() =>
      this.#db.tx(async (q) => {
        const params: unknown[] = [];
        const rows = batch.map(({ event, receivedAt }) => {
          params.push(event.deviceId ?? null, event.type, event.at, event.app ?? null, event.userId ?? null, JSON.stringify(event.attrs), receivedAt);
          const n = params.length;
          return `('gateway', $${n - 6}, NULL, NULL, $${n - 5}, $${n - 4}, $${n - 3}, NULL, $${n - 2}, $${n - 1}, $${n})`;
        });
        await q.run(`INSERT INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at) VALUES ${rows.join(', ')}`, params);
        await this.#addDayCounts(q, batch.map(({ event }) => ({ at: new Date(event.at).toISOString(), type: event.type, app: event.app ?? null })));
      }),
    );
    // Batches commit one after another; a failed batch fails its own callers only.
    this.#flushing = write.then(
      () => undefined,
      () => undefined,
    );
    try {
      await write;
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
    if (this.#pending.length > 0) await this.flushGatewayEvents();
  }

  async queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    await this.flushGatewayEvents();
    const where: string[] = [];
    const params: (string | number)[] = [];
    const filters: [string, string | number | undefined][] = [
      ['device_id', query.deviceId],
      ['user_id', query.userId],
      ['app', query.app],
      ['type', query.type],
    ];
    for (const [column, value] of filters) {
      if (value === undefined) continue;
      params.push(value);
      where.push(`${column} = $${params.length}`);
    }
    if (query.since !== undefined) {
      params.push(query.since);
      where.push(`at >= $${params.length}`);
    }
    if (query.beforeId !== undefined) {
      params.push(query.beforeId);
      where.push(`id < $${params.length}`);
    }
    params.push(query.limit);
    const rows = await this.#db.rows<EventRow>(
      `SELECT id, source, device_id, seq, type, at, app, os_user, user_id, attrs, received_at FROM events
       ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({
      id: r.id,
      source: r.source,
      deviceId: r.device_id,
      seq: r.seq,
      type: r.type,
      at: r.at,
      app: r.app,
      osUser: r.os_user,
      userId: r.user_id,
      attrs: JSON.parse(r.attrs) as StoredEvent['attrs'],
      receivedAt: r.received_at,
    }));
  }

  async countEvents(query: { types: readonly string[]; sinceDay: string }): Promise<number> {
    await this.flushGatewayEvents();
    const row = await this.#db.one<{ n: number | null }>('SELECT SUM(count) AS n FROM event_day_counts WHERE day >= $1 AND type = ANY($2::text[])', [query.sinceDay, query.types]);
    return row?.n ?? 0;
  }

  async eventCountsByDay(query: { types: readonly string[]; sinceDay: string }): Promise<EventDayCount[]> {
    await this.flushGatewayEvents();
    const rows = await this.#db.rows<{ app: string; day: string; count: number }>(
      `SELECT app, day, SUM(count) AS count FROM event_day_counts WHERE day >= $1 AND type = ANY($2::text[])
       GROUP BY app, day ORDER BY day, app`,
      [query.sinceDay, query.types],
    );
    return rows.map((r) => ({ app: r.app === '' ? null : r.app, day: r.day, count: r.count }));
  }

  /** Month partitions that exist (`YYYY-MM`), oldest first. */
  async partitions(q: Queryable = this.#db): Promise<string[]> {
    const rows = await q.rows<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY c.relname`,
    );
    return rows.flatMap((r) => {
      const m = PARTITION_NAME.exec(r.name);
      return m ? [`${m[1]}-${m[2]}`] : [];
    });
  }

  /**
   * Makes this month's partition and the next ones, moving any rows that had landed in the default
   * partition for those months (an agent's clock ahead), then attaching: one replica at a time.
   */
  async ensurePartitions(nowMs: number): Promise<string[]> {
    return this.#db.tx(async (q) => {
      await q.run('SELECT pg_advisory_xact_lock($1, $2)', PARTITION_LOCK);
      const existing = new Set(await this.partitions(q));
      const made: string[] = [];
      for (let offset = 0; offset <= PARTITION_MONTHS_AHEAD; offset++) {
        const month = monthOf(nowMs, offset);
        if (existing.has(month)) continue;
        const name = partitionName(month);
        const upper = nextMonth(month);
        await q.run(`CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
        await q.run(
          `WITH moved AS (DELETE FROM events_default WHERE at >= $1 AND at < $2 RETURNING *) INSERT INTO ${name} SELECT * FROM moved`,
          [month, upper],
        );
        await q.run(`ALTER TABLE events ATTACH PARTITION ${name} FOR VALUES FROM ('${month}') TO ('${upper}')`);
        made.push(month);
      }
      return made;
    });
  }

  /**
   * Retention: drops every month partition wholly before `cutoff` (an ISO time), then deletes the
   * older rows left in the partition holding the cutoff and in the default one, and the day counts
   * of days before the cutoff's day. Returns how many events went.
   */
  async pruneEvents(cutoff: string): Promise<number> {
    await this.flushGatewayEvents();
    return this.#db.tx(async (q) => {
      await q.run('SELECT pg_advisory_xact_lock($1, $2)', PARTITION_LOCK);
      let removed = 0;
      for (const month of await this.partitions(q)) {
        if (nextMonth(month) > cutoff) continue;
        const name = partitionName(month);
        removed += (await q.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${name}`))!.n;
        await q.run(`ALTER TABLE events DETACH PARTITION ${name}`);
        await q.run(`DROP TABLE ${name}`);
      }
      removed += await q.run('DELETE FROM events WHERE at < $1', [cutoff]);
      await q.run('DELETE FROM event_day_counts WHERE day < $1', [cutoff.slice(0, 10)]);
      return removed;
    });
  }
}
