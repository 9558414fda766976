// The audit events: table `events`, agent events (unique by device, stream and seq, ingested from
// the outbox) and the gateway's own (inference requests, no seq), queried newest first.
import type { Database, Statement } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import { systemClock, type Clock } from '../../../../lib/index.ts';
import type { EdgeEvent } from '../../../../protocol/index.ts';
import type { EventDayCount, EventQuery, EventStore, GatewayEventInput, IngestResult, StoredEvent } from '../types.ts';
import type { SqliteDeviceStore } from './devices.ts';
import type { SqliteOutboxStreams } from './outbox-streams.ts';
import { type EventRow } from '../rows.ts';

/** How long a gateway event may wait to be written with the ones after it (bounds what a killed process loses). */
export const GATEWAY_EVENT_BATCH_MS = 20;
/** Events written at once however young the batch: bounds the transaction and the memory held. */
export const GATEWAY_EVENT_BATCH_MAX = 512;

export function createEventTable(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL CHECK (source IN ('agent', 'gateway')),
    device_id TEXT,
    stream TEXT,
    seq INTEGER,
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    app TEXT,
    os_user TEXT,
    user_id TEXT,
    attrs TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (device_id, stream, seq)
  ) STRICT`);
  db.exec('CREATE INDEX events_device ON events (device_id, id)');
  db.exec('CREATE INDEX events_app ON events (app, id)');
  db.exec('CREATE INDEX events_type ON events (type, id)');
}

/** Migration 2: agent events carry the gateway user of the OS user that signed in on the device. */
export function indexEventsByUser(db: SchemaDatabase): void {
  db.exec('CREATE INDEX events_user ON events (user_id, id)');
  db.exec(`UPDATE events SET user_id = (
    SELECT t.user_id FROM device_tokens t WHERE t.device_id = events.device_id AND t.os_user = events.os_user ORDER BY t.created_at DESC LIMIT 1
  ) WHERE source = 'agent' AND user_id IS NULL AND os_user IS NOT NULL`);
}

/**
 * Migration 5: events counted per type, app and UTC day, kept with every insert. The console's
 * overview (today's blocks, two weeks of requests per app) reads a few hundred rows of it instead of
 * scanning 100,000 events; existing events are counted once here.
 */
export function countEventsPerDay(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE event_day_counts (
    day TEXT NOT NULL,
    type TEXT NOT NULL,
    app TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, type, app)
  ) STRICT`);
  db.exec("INSERT INTO event_day_counts (day, type, app, count) SELECT substr(at, 1, 10), type, COALESCE(app, ''), COUNT(*) FROM events GROUP BY 1, 2, 3");
}

/** Migration 7: retention removes events by time; without an index each run would scan them all. */
export function indexEventsByTime(db: SchemaDatabase): void {
  db.exec('CREATE INDEX events_at ON events (at)');
}

/** Events removed per transaction by retention: other writers wait at most one batch. */
const PRUNE_BATCH = 5000;

/** The key of an event's day count; an event without an app counts under ''. */
const dayKey = (at: string, type: string, app: string | null | undefined): string => `${at.slice(0, 10)}\u0000${type}\u0000${app ?? ''}`;

export class SqliteEventStore implements EventStore {
  readonly #clock: Clock;
  readonly #db: Database;
  readonly #streams: SqliteOutboxStreams;
  readonly #devices: SqliteDeviceStore;
  readonly #insertEvent: Statement<unknown[]>;
  readonly #insertGatewayEvent: Statement<unknown[]>;
  readonly #addDayCount: Statement<[string, string, string, number]>;
  /**
   * Gateway events recorded in the last few milliseconds, written together in one transaction
   * (GATEWAY_EVENT_BATCH_MS after the first, or at once when GATEWAY_EVENT_BATCH_MAX are waiting): one
   * commit per request was the inference path's largest cost after Node's own HTTP work, and one per
   * event-loop turn still wrote the same index pages to the WAL a few events at a time
   * (docs/performance.md). Every read of events writes them first, so a reader always sees them.
   */
  #pendingGatewayEvents: { event: GatewayEventInput; done: () => void; failed: (err: unknown) => void }[] = [];
  #flushTimer: NodeJS.Timeout | undefined;

  constructor(db: Database, streams: SqliteOutboxStreams, devices: SqliteDeviceStore, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#db = db;
    this.#streams = streams;
    this.#devices = devices;
    this.#insertEvent = db.prepare(
      `INSERT OR IGNORE INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at)
       VALUES ('agent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.#insertGatewayEvent = db.prepare(
      `INSERT INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at)
       VALUES ('gateway', ?, NULL, NULL, ?, ?, ?, NULL, ?, ?, ?)`,
    );
    this.#addDayCount = db.prepare('INSERT INTO event_day_counts (day, type, app, count) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET count = count + excluded.count');
  }

  /** Adds counted events to `event_day_counts` (inside the caller's transaction). */
  #addDayCounts(counts: ReadonlyMap<string, number>): void {
    for (const [k, n] of counts) {
      const [day, type, app] = k.split('\u0000') as [string, string, string];
      this.#addDayCount.run(day, type, app, n);
    }
  }

  #nowIso(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  highSeq(deviceId: string, stream: string): Promise<number> {
    return Promise.resolve(this.#streams.highSeqNow(deviceId, stream));
  }

  skipSeq(deviceId: string, stream: string, seq: number, at: string): Promise<number> {
    this.#streams.advanceNow(deviceId, stream, seq, at);
    return Promise.resolve(this.#streams.highSeqNow(deviceId, stream));
  }

  ingestEvents(deviceId: string, stream: string, events: readonly EdgeEvent[], receivedAt: string): Promise<IngestResult> {
    const result = this.#db.transaction((): IngestResult => {
      const high = this.#streams.highSeqNow(deviceId, stream);
      let stored = 0;
      let top = high;
      // An agent event is the gateway user's whose OS user signed in on that device; an event without
      // an OS user, or from one never enrolled, has no user. A batch comes from one device and usually
      // one or two OS users: each is looked up once.
      const users = new Map<string, string | null>();
      const userOf = (osUser: string | undefined): string | null => {
        if (osUser === undefined) return null;
        let user = users.get(osUser);
        if (user === undefined) {
          user = this.#devices.userOfOsUserNow(deviceId, osUser);
          users.set(osUser, user);
        }
        return user;
      };
      const counts = new Map<string, number>();
      for (const e of events) {
        if (e.seq <= high) continue;
        // Stored in UTC so `since` filters compare like with like whatever offset the agent used.
        const eventAt = new Date(e.at).toISOString();
        const info = this.#insertEvent.run(
          deviceId, stream, e.seq, e.type, eventAt, e.app ?? null, e.os_user ?? null, userOf(e.os_user), JSON.stringify(e.attrs ?? {}), receivedAt,
        );
        stored += info.changes;
        if (info.changes > 0) counts.set(dayKey(eventAt, e.type, e.app), (counts.get(dayKey(eventAt, e.type, e.app)) ?? 0) + 1);
        if (e.seq > top) top = e.seq;
      }
      this.#addDayCounts(counts);
      if (top > high) this.#streams.advanceNow(deviceId, stream, top, receivedAt);
      return { stored, highSeq: top };
    }).immediate();
    return Promise.resolve(result);
  }

  recordGatewayEvent(event: GatewayEventInput): Promise<void> {
    return new Promise((done, failed) => {
      const waiting = this.#pendingGatewayEvents.push({ event, done, failed });
      if (waiting >= GATEWAY_EVENT_BATCH_MAX) this.flushGatewayEvents();
      // A wall-clock wait, not the store's Clock: it only groups writes, and a test's ManualClock must not hold them back.
      else if (waiting === 1) this.#flushTimer = setTimeout(() => this.flushGatewayEvents(), GATEWAY_EVENT_BATCH_MS);
    });
  }

  /** Writes the gateway events recorded so far (when their batch is due, before any read of events, before the store closes). */
  flushGatewayEvents(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const batch = this.#pendingGatewayEvents;
    if (batch.length === 0) return;
    this.#pendingGatewayEvents = [];
    try {
      const receivedAt = this.#nowIso();
      this.#db.transaction(() => {
        const counts = new Map<string, number>();
        for (const { event } of batch) {
          this.#insertGatewayEvent.run(event.deviceId ?? null, event.type, event.at, event.app ?? null, event.userId ?? null, JSON.stringify(event.attrs), receivedAt);
          const key = dayKey(new Date(event.at).toISOString(), event.type, event.app);
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        this.#addDayCounts(counts);
      })();
    } catch (err) {
      for (const { failed } of batch) failed(err);
      return;
    }
    for (const { done } of batch) done();
  }

  queryEvents(query: EventQuery): Promise<StoredEvent[]> {
    // A read sees the gateway events of this turn too (as on PostgreSQL).
    this.flushGatewayEvents();
    const where: string[] = [];
    const params: (string | number)[] = [];
    const filters: [string, string | number | undefined][] = [
      ['device_id = ?', query.deviceId],
      ['user_id = ?', query.userId],
      ['app = ?', query.app],
      ['type = ?', query.type],
      ['at >= ?', query.since],
      ['id < ?', query.beforeId],
    ];
    for (const [clause, value] of filters) {
      if (value === undefined) continue;
      where.push(clause);
      params.push(value);
    }
    const sql = `SELECT id, source, device_id, seq, type, at, app, os_user, user_id, attrs, received_at FROM events
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    const rows = this.#db.prepare<unknown[], EventRow>(sql).all(...params, query.limit);
    return Promise.resolve(
      rows.map((r) => ({
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
      })),
    );
  }

  countEvents(query: { types: readonly string[]; sinceDay: string }): Promise<number> {
    this.flushGatewayEvents();
    const row = this.#db
      .prepare<[string, string], { n: number | null }>('SELECT SUM(count) AS n FROM event_day_counts WHERE day >= ? AND type IN (SELECT value FROM json_each(?))')
      .get(query.sinceDay, JSON.stringify(query.types));
    return Promise.resolve(row?.n ?? 0);
  }

  eventCountsByDay(query: { types: readonly string[]; sinceDay: string }): Promise<EventDayCount[]> {
    this.flushGatewayEvents();
    const rows = this.#db
      .prepare<[string, string], { app: string; day: string; count: number }>(
        `SELECT app, day, SUM(count) AS count FROM event_day_counts WHERE day >= ? AND type IN (SELECT value FROM json_each(?))
         GROUP BY app, day ORDER BY day, app`,
      )
      .all(query.sinceDay, JSON.stringify(query.types));
    return Promise.resolve(rows.map((r) => ({ app: r.app === '' ? null : r.app, day: r.day, count: r.count })));
  }

  async pruneEvents(cutoff: string): Promise<number> {
    this.flushGatewayEvents();
    const batch = this.#db.prepare<[string, number]>('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ? LIMIT ?)');
    let removed = 0;
    for (;;) {
      const changes = batch.run(cutoff, PRUNE_BATCH).changes;
      removed += changes;
      if (changes < PRUNE_BATCH) break;
      // Lets the event loop (agents' messages, admin requests) run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.#db.prepare('DELETE FROM event_day_counts WHERE day < ?').run(cutoff.slice(0, 10));
    return removed;
  }
}
