// The outbox: audit events and inventory reports waiting for the gateway's ack, in the store so a
// crash or a dead gateway loses nothing. Every row gets a monotonic seq in the transaction that writes
// it; the gateway acknowledges the highest seq it stored and everything up to it is deleted. When the
// outbox reaches its cap, the oldest audit events are replaced by one counted `gap` event.
import { randomBytes } from 'node:crypto';
import type { Database } from '../store/index.ts';
import type { Logger } from '../lib/logger.ts';
import { inventoryAppsSchema, inventoryMcpSchema, LIMITS } from '../../../protocol/index.ts';
import type { EdgeEvent, InventoryAppsMessage, InventoryMcpMessage } from '../../../protocol/index.ts';
import { EventChecker } from './event-check.ts';
import { RecentRows, type RecentRowsLimits } from './outbox-recent.ts';

/** An audit event as a room hands it over; the outbox assigns the seq. */
export type NewEvent = Omit<EdgeEvent, 'seq'>;
/** An inventory report as a room hands it over (the full list; it replaces the previous one). */
export type NewInventoryReport = Omit<InventoryAppsMessage, 'seq' | 'id'> | Omit<InventoryMcpMessage, 'seq' | 'id'>;

export type OutboxKind = 'event' | 'inventory.apps' | 'inventory.mcp';

/** One row ready to send: `payload` is the event or report without its seq. Shared, never changed. */
export interface OutboxEntry {
  readonly seq: number;
  readonly kind: OutboxKind;
  readonly type: string;
  readonly payload: string;
  readonly bytes: number;
}

export interface OutboxDepth {
  rows: number;
  bytes: number;
}

export interface OutboxOptions {
  db: Database;
  logger: Logger;
  /** Cap on rows; above it the oldest audit events are summarised. */
  maxRows?: number;
  /** Cap on the summed JSON size of the rows. */
  maxBytes?: number;
  /** Compaction brings the outbox down to this fraction of the caps, so it does not run on every write. */
  lowWater?: number;
  /** Bounds on the rows kept in memory for the sender after they committed (outbox-recent.ts). */
  recentRows?: RecentRowsLimits;
}

/** What one write transaction did to the table, applied to the in-memory copy once it committed. */
interface WriteEffects {
  /** Rows inserted with new seqs, in seq order. */
  rows: OutboxEntry[];
  /** Kinds whose rows were deleted before the insert (a newer inventory report). */
  deletedKinds: OutboxKind[];
  /** Rows up to this seq were replaced by a gap event (compaction); 0 when none. */
  settledThrough: number;
}

export class OutboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboxError';
  }
}

const DEFAULT_OUTBOX_MAX_ROWS = 100_000;
const DEFAULT_OUTBOX_MAX_BYTES = 64 * 1024 * 1024;
/** One audit event is small; a larger one is a bug in the room that made it (no bodies, no blobs). */
export const MAX_EVENT_BYTES = 16 * 1024;
/**
 * Events per INSERT statement, largest first (4 parameters each, far below SQLite's 32,766). A batch
 * is split greedily into these sizes, so at most four statements of this kind sit in the store's
 * statement cache instead of one per batch size.
 */
const INSERT_ROW_COUNTS = [64, 16, 4, 1] as const;
const insertEventsSqlBySize = new Map<number, string>();
function insertEventsSql(rows: number): string {
  let sql = insertEventsSqlBySize.get(rows);
  if (sql === undefined) {
    sql = `INSERT INTO sync_outbox (kind, type, payload, bytes, created_at) VALUES ${Array.from({ length: rows }, () => "('event', ?, ?, ?, ?)").join(', ')}`;
    insertEventsSqlBySize.set(rows, sql);
  }
  return sql;
}

const PREPARED = Symbol('prepared outbox event');
/** An event checked against the protocol and encoded, ready to write (Outbox.prepareEvent). */
export interface PreparedEvent {
  readonly [PREPARED]: true;
  readonly type: string;
  readonly payload: string;
  readonly bytes: number;
  readonly at: string;
}

/** Room left in a message for the envelope around one inventory report. */
const INVENTORY_ENVELOPE_BYTES = 256;

// Gap events carry per-type counts as attrs["count.<type>"]; the protocol allows 64 attributes, of
// which five are the gap's own fields and one is the catch-all.
const GAP_FIELDS = ['count', 'first_seq', 'last_seq', 'first_at', 'last_at'] as const;
const MAX_GAP_TYPE_COUNTS = LIMITS.maxEventAttrs - GAP_FIELDS.length - 1;
const GAP_OTHER_KEY = 'count.other';
const ATTR_KEY = /^[A-Za-z0-9_.:-]{1,64}$/;

interface Summary {
  count: number;
  firstSeq: number;
  lastSeq: number;
  firstAt: string;
  lastAt: string;
  byType: Map<string, number>;
}

function addCount(map: Map<string, number>, type: string, n: number): void {
  map.set(type, (map.get(type) ?? 0) + n);
}

function gapAttrs(s: Summary): Record<string, number | string> {
  const attrs: Record<string, number | string> = {
    count: s.count,
    first_seq: s.firstSeq,
    last_seq: s.lastSeq,
    first_at: s.firstAt,
    last_at: s.lastAt,
  };
  // The most frequent types get their own counter; the rest (and any type whose key would be too
  // long) fold into count.other, so the counts always add up to `count`.
  const sorted = [...s.byType].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  let other = 0;
  let named = 0;
  for (const [type, n] of sorted) {
    const key = `count.${type}`;
    if (type !== 'other' && named < MAX_GAP_TYPE_COUNTS && ATTR_KEY.test(key)) {
      attrs[key] = n;
      named++;
    } else {
      other += n;
    }
  }
  if (other > 0) attrs[GAP_OTHER_KEY] = other;
  return attrs;
}

/** Reads a stored gap event back into a summary, so a later compaction merges it instead of counting it as one event. */
function summaryOfGap(payload: string, seq: number, at: string): Summary {
  const event = JSON.parse(payload) as { attrs?: Record<string, unknown> };
  const attrs = event.attrs ?? {};
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const str = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback);
  const byType = new Map<string, number>();
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith('count.') && typeof value === 'number') addCount(byType, key.slice('count.'.length), value);
  }
  return {
    count: num(attrs['count'], 1),
    firstSeq: num(attrs['first_seq'], seq),
    lastSeq: num(attrs['last_seq'], seq),
    firstAt: str(attrs['first_at'], at),
    lastAt: str(attrs['last_at'], at),
    byType,
  };
}

function summaryOfRow(row: { seq: number; type: string; payload: string; created_at: string }): Summary {
  if (row.type === 'gap') return summaryOfGap(row.payload, row.seq, row.created_at);
  return { count: 1, firstSeq: row.seq, lastSeq: row.seq, firstAt: row.created_at, lastAt: row.created_at, byType: new Map([[row.type, 1]]) };
}

function mergeSummary(into: Summary | undefined, part: Summary): Summary {
  if (!into) return part;
  into.count += part.count;
  into.firstSeq = Math.min(into.firstSeq, part.firstSeq);
  into.lastSeq = Math.max(into.lastSeq, part.lastSeq);
  if (part.firstAt < into.firstAt) into.firstAt = part.firstAt;
  if (part.lastAt > into.lastAt) into.lastAt = part.lastAt;
  for (const [t, n] of part.byType) addCount(into.byType, t, n);
  return into;
}

export class Outbox {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #maxRows: number;
  readonly #maxBytes: number;
  readonly #lowWater: number;
  readonly #stream: string;
  #rows = 0;
  #bytes = 0;
  readonly #listeners = new Set<() => void>();
  readonly #recent: RecentRows;
  readonly #checker = new EventChecker();
  /** The highest seq this outbox assigned, known without a query; undefined until read again. */
  #lastSeq: number | undefined;
  /** The effects of the write transaction in progress. */
  #effects: WriteEffects | undefined;
  /**
   * The row and byte counts may be off: a write ran inside someone else's transaction (which may
   * have rolled back) or another writer added rows. They are counted again before they are used.
   */
  #countsStale = false;
  /**
   * Rows with a seq above this were written by this instance, which checked every event against the
   * protocol as it was enqueued (the edge) and built its gap events itself: the sender sends them as
   * stored. Rows at or below it come from an earlier run, perhaps of an older version with a laxer
   * schema, and are checked again before they are sent.
   */
  readonly checkedAfter: number;

  constructor(options: OutboxOptions) {
    this.#db = options.db;
    this.#logger = options.logger;
    this.#maxRows = options.maxRows ?? DEFAULT_OUTBOX_MAX_ROWS;
    this.#maxBytes = options.maxBytes ?? DEFAULT_OUTBOX_MAX_BYTES;
    this.#lowWater = options.lowWater ?? 0.9;
    if (this.#maxRows < 10) throw new OutboxError('outbox maxRows must be at least 10');
    if (this.#maxBytes < 4 * MAX_EVENT_BYTES) throw new OutboxError(`outbox maxBytes must be at least ${4 * MAX_EVENT_BYTES}`);
    this.#stream = this.#loadOrCreateStream();
    this.#recount();
    this.checkedAfter = this.lastAssignedSeq();
    this.#recent = new RecentRows(this.checkedAfter, options.recentRows);
  }

  /** The random id of this outbox; seqs are unique within it (a reset store starts a new stream). */
  get stream(): string {
    return this.#stream;
  }

  #loadOrCreateStream(): string {
    const get = this.#db.prepare<[], { value: string }>("SELECT value FROM sync_state WHERE key = 'outbox_stream'");
    const existing = get.get()?.value;
    if (existing) return existing;
    this.#db
      .prepare("INSERT OR IGNORE INTO sync_state (key, value, updated_at) VALUES ('outbox_stream', ?, ?)")
      .run(`ob-${randomBytes(12).toString('hex')}`, new Date().toISOString());
    return get.get()!.value;
  }

  #freshCounts(): void {
    if (!this.#countsStale) return;
    this.#countsStale = false;
    this.#recount();
  }

  #recount(): void {
    const row = this.#db.prepare<[], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM sync_outbox').get()!;
    this.#rows = row.n;
    this.#bytes = row.b ?? 0;
  }

  /** Called after every write that added a row (the sync client flushes then). Returns an unsubscribe. */
  onEnqueued(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #notify(): void {
    for (const listener of this.#listeners) listener();
  }

  /**
   * Adds an audit event and returns its seq. The event is checked against the protocol here, so a bad
   * event fails its maker at once instead of blocking the outbox later.
   */
  enqueue(event: NewEvent): number {
    const row = this.prepareEvent(event);
    const seq = this.#write(() => this.#insert('event', row.type, row.payload, row.bytes, row.at));
    this.#notify();
    return seq;
  }

  /**
   * Adds several events in one transaction: one commit instead of one per event. An invalid event
   * is skipped and reported in the result; the others are written. Returns the seqs of the events
   * written, in order.
   */
  enqueueMany(events: readonly NewEvent[]): { seqs: number[]; rejected: { index: number; error: OutboxError }[] } {
    const rows: PreparedEvent[] = [];
    const rejected: { index: number; error: OutboxError }[] = [];
    events.forEach((event, index) => {
      try {
        rows.push(this.prepareEvent(event));
      } catch (err) {
        rejected.push({ index, error: err as OutboxError });
      }
    });
    return { seqs: this.enqueuePrepared(rows), rejected };
  }

  /**
   * Checks an event against the protocol and encodes it for enqueuePrepared; throws an OutboxError
   * naming what is wrong. The proxy's audit trail prepares each exchange's event as the exchange
   * ends, so the batch written later is SQLite work alone: checking a batch of a few dozen events
   * at once held the event loop long enough to show in the proxy's added p99 (issue 22). The check
   * is the protocol's schema, run in full once per shape of event (event-check.ts).
   */
  prepareEvent(event: NewEvent): PreparedEvent {
    const checked = this.#checker.check(event);
    if (!checked.ok) throw new OutboxError(`event of type "${String(event.type).slice(0, 64)}" is invalid: ${checked.reason}`);
    const { type, at, payload } = checked.event;
    const bytes = Buffer.byteLength(payload);
    if (bytes > MAX_EVENT_BYTES) throw new OutboxError(`event of type "${type}" is ${bytes} bytes; the limit is ${MAX_EVENT_BYTES}`);
    return Object.freeze({ [PREPARED]: true as const, type, payload, bytes, at });
  }

  /**
   * Writes prepared events in one transaction, up to 64 rows per INSERT, and returns
   * their seqs in order. `alongside` runs inside the same transaction after the rows (the audit
   * trail's seen-apps counts: one commit for both); it must catch its own errors, or the events roll
   * back with it.
   */
  enqueuePrepared(rows: readonly PreparedEvent[], alongside?: () => void): number[] {
    for (const row of rows) {
      if (row[PREPARED] !== true) throw new OutboxError('enqueuePrepared takes only events from prepareEvent');
    }
    if (rows.length === 0 && !alongside) return [];
    const seqs: number[] = [];
    this.#write(() => {
      let at = 0;
      for (const count of INSERT_ROW_COUNTS) {
        for (; rows.length - at >= count; at += count) this.#insertEvents(rows.slice(at, at + count), seqs);
      }
      alongside?.();
      return seqs.at(-1) ?? 0;
    });
    if (rows.length > 0) this.#notify();
    return seqs;
  }

  /**
   * One INSERT for up to 64 events. seq is AUTOINCREMENT and this connection holds the
   * write lock (#write's IMMEDIATE transaction), so the rows take consecutive seqs in VALUES order,
   * the last one being the last insert rowid.
   */
  #insertEvents(rows: readonly PreparedEvent[], seqs: number[]): void {
    const params: (string | number)[] = [];
    let bytes = 0;
    for (const row of rows) {
      params.push(row.type, row.payload, row.bytes, row.at);
      bytes += row.bytes;
    }
    const last = Number(this.#db.prepare<(string | number)[]>(insertEventsSql(rows.length)).run(...params).lastInsertRowid);
    const first = last - rows.length + 1;
    rows.forEach((row, i) => {
      seqs.push(first + i);
      this.#effects?.rows.push({ seq: first + i, kind: 'event', type: row.type, payload: row.payload, bytes: row.bytes });
    });
    this.#rows += rows.length;
    this.#bytes += bytes;
  }

  /** Adds an inventory report (the full list of its kind), replacing an unsent older one; returns its seq. */
  enqueueInventory(report: NewInventoryReport): number {
    const schema = report.type === 'inventory.apps' ? inventoryAppsSchema : inventoryMcpSchema;
    const checked = schema.safeParse({ ...report, seq: 1 });
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new OutboxError(`${report.type} report is invalid: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}`);
    }
    const { seq: _seq, id: _id, ...clean } = checked.data;
    const payload = JSON.stringify(clean);
    const bytes = Buffer.byteLength(payload);
    if (bytes + INVENTORY_ENVELOPE_BYTES > LIMITS.maxAgentMessageBytes) {
      throw new OutboxError(`${report.type} report is ${bytes} bytes; a message may carry at most ${LIMITS.maxAgentMessageBytes}`);
    }
    const seq = this.#write(() => {
      const old = this.#db
        // `kind <> 'event'` lets SQLite use the index of inventory rows (schema.ts).
        .prepare<[string], { n: number; b: number | null }>("SELECT COUNT(*) AS n, SUM(bytes) AS b FROM sync_outbox WHERE kind = ? AND kind <> 'event'")
        .get(report.type)!;
      this.#db.prepare("DELETE FROM sync_outbox WHERE kind = ? AND kind <> 'event'").run(report.type);
      if (old.n > 0) this.#effects?.deletedKinds.push(report.type);
      this.#rows -= old.n;
      this.#bytes -= old.b ?? 0;
      return this.#insert(report.type, report.type, payload, bytes, new Date().toISOString());
    });
    this.#notify();
    return seq;
  }

  // Runs `fn` and the cap check in one IMMEDIATE transaction; the in-memory counters are rebuilt from
  // the table if the transaction fails, so they never drift from what was committed.
  // The in-memory copy of recent rows learns what the transaction did only once it committed; inside
  // someone else's transaction (which may still roll back) it forgets what it held instead.
  #write(fn: () => number): number {
    const nested = this.#db.inTransaction;
    if (!nested) this.#freshCounts();
    const lastSeqBefore = this.#lastSeq ?? -1;
    const effects: WriteEffects = { rows: [], deletedKinds: [], settledThrough: 0 };
    this.#effects = effects;
    let seq: number;
    try {
      seq = this.#db
        .transaction(() => {
          const seq = fn();
          if (this.#rows > this.#maxRows || this.#bytes > this.#maxBytes) this.#compact();
          return seq;
        })
        .immediate();
    } catch (err) {
      this.#recount();
      throw err;
    } finally {
      this.#effects = undefined;
    }
    if (nested) {
      this.#recent.forget();
      this.#lastSeq = undefined;
      this.#countsStale = true;
      return seq;
    }
    for (const kind of effects.deletedKinds) this.#recent.deletedKind(kind);
    if (this.#recent.committed(effects.rows, lastSeqBefore) === 'anchored' && lastSeqBefore >= 0) {
      // The new rows did not follow the last seq this outbox knew: another writer added rows.
      this.#recount();
    }
    if (effects.settledThrough > 0) this.#recent.settledThrough(effects.settledThrough);
    const last = effects.rows.at(-1);
    if (last) this.#lastSeq = last.seq;
    return seq;
  }

  #insert(kind: OutboxKind, type: string, payload: string, bytes: number, at: string): number {
    const info = this.#db.prepare('INSERT INTO sync_outbox (kind, type, payload, bytes, created_at) VALUES (?, ?, ?, ?, ?)').run(kind, type, payload, bytes, at);
    this.#rows += 1;
    this.#bytes += bytes;
    const seq = Number(info.lastInsertRowid);
    this.#effects?.rows.push({ seq, kind, type, payload, bytes });
    return seq;
  }

  /**
   * Replaces the oldest audit events with one gap event until the outbox is under the low-water mark.
   * The gap takes the seq of the last event it summarises: it sits where they sat in the order, and
   * if the gateway already stored that seq it also stored everything the gap counts (acks are cumulative).
   */
  #compact(): void {
    const targetRows = Math.floor(this.#maxRows * this.#lowWater);
    const targetBytes = Math.floor(this.#maxBytes * this.#lowWater);
    const oldest = this.#db.prepare<[number, number], { seq: number; type: string; payload: string; bytes: number; created_at: string }>(
      "SELECT seq, type, CASE WHEN type = 'gap' THEN payload ELSE '' END AS payload, bytes, created_at FROM sync_outbox WHERE kind = 'event' AND seq > ? ORDER BY seq LIMIT ?",
    );
    let summary: Summary | undefined;
    let removedRows = 0;
    let removedBytes = 0;
    let after = 0;
    // +1: the gap event itself takes a row.
    const over = () => this.#rows - removedRows + 1 > targetRows || this.#bytes - removedBytes > targetBytes;
    while (over()) {
      const page = oldest.all(after, 1000);
      if (page.length === 0) break;
      for (const row of page) {
        if (!over()) break;
        summary = mergeSummary(summary, summaryOfRow(row));
        removedRows++;
        removedBytes += row.bytes;
        after = row.seq;
      }
    }
    // Only inventory rows left: they are bounded (one per kind), so the outbox cannot grow further.
    if (!summary) return;
    this.#db.prepare("DELETE FROM sync_outbox WHERE kind = 'event' AND seq <= ?").run(after);
    this.#rows -= removedRows;
    this.#bytes -= removedBytes;
    this.#insertGap(summary, after);
    if (this.#effects) this.#effects.settledThrough = after;
    this.#logger.warn(
      { summarised: summary.count, first_seq: summary.firstSeq, last_seq: summary.lastSeq, max_rows: this.#maxRows, max_bytes: this.#maxBytes },
      'outbox reached its cap (gateway unreachable for long?): oldest audit events summarised into one gap event',
    );
  }

  #insertGap(summary: Summary, seq: number): void {
    const payload = JSON.stringify({ type: 'gap', at: new Date().toISOString(), attrs: gapAttrs(summary) });
    const bytes = Buffer.byteLength(payload);
    this.#db.prepare("INSERT INTO sync_outbox (seq, kind, type, payload, bytes, created_at) VALUES (?, 'event', 'gap', ?, ?, ?)").run(seq, payload, bytes, summary.lastAt);
    this.#rows += 1;
    this.#bytes += bytes;
  }

  /**
   * Replaces rows that cannot be sent (they fail the protocol, e.g. after an upgrade made a schema
   * stricter) with one gap event counting them, so they neither block the outbox nor vanish unseen.
   */
  quarantine(seqs: readonly number[], reason: string): void {
    if (seqs.length === 0) return;
    const nested = this.#db.inTransaction;
    if (!nested) this.#freshCounts();
    const removed = this.#db
      .transaction(() => {
        const read = this.#db.prepare<[number], { seq: number; type: string; payload: string; bytes: number; created_at: string }>(
          'SELECT seq, type, payload, bytes, created_at FROM sync_outbox WHERE seq = ?',
        );
        const del = this.#db.prepare('DELETE FROM sync_outbox WHERE seq = ?');
        let summary: Summary | undefined;
        let last = 0;
        for (const seq of seqs) {
          const row = read.get(seq);
          if (!row) continue;
          // A gap event that fails the protocol cannot be repaired by summarising it again.
          const part = row.type === 'gap' ? undefined : summaryOfRow(row);
          del.run(seq);
          this.#rows -= 1;
          this.#bytes -= row.bytes;
          if (part) summary = mergeSummary(summary, part);
          last = Math.max(last, seq);
        }
        if (summary) this.#insertGap(summary, last);
        return summary?.count ?? 0;
      })
      .immediate();
    if (nested) this.#recent.forget();
    else this.#recent.settledThrough(seqs.reduce((a, b) => Math.max(a, b), 0));
    this.#logger.error({ seqs: seqs.slice(0, 20), count: removed, reason }, 'outbox rows fail the protocol and cannot be sent; replaced by a gap event');
  }

  /** Rows with seq > `afterSeq`, oldest first, at most `limit`: from memory when this run wrote them all. */
  pendingAfter(afterSeq: number, limit: number): OutboxEntry[] {
    if (this.#recent.covers(afterSeq)) return this.#recent.after(afterSeq, limit);
    return this.#db
      .prepare<[number, number], OutboxEntry>('SELECT seq, kind, type, payload, bytes FROM sync_outbox WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(afterSeq, limit);
  }

  /** Deletes everything up to and including `seq` (the gateway stored it); returns how many rows went. */
  ack(seq: number): number {
    if (!Number.isSafeInteger(seq) || seq < 1) return 0;
    if (!this.#db.inTransaction) this.#freshCounts();
    if (!this.#db.inTransaction && this.#rows === this.#recent.size) {
      // Every row of the table is in memory: what goes is known without a query, and one DELETE is
      // its own transaction.
      const gone = this.#recent.through(seq);
      if (gone.n > 0) {
        const changes = this.#db.prepare('DELETE FROM sync_outbox WHERE seq <= ?').run(seq).changes;
        if (changes !== gone.n) {
          // Something other than this outbox wrote the table: count again and read it from SQLite.
          this.#logger.warn({ seq, expected: gone.n, deleted: changes }, 'outbox rows changed behind its back; counting them again');
          this.#recent.forget();
          this.#recount();
          return changes;
        }
      }
      this.#recent.settledThrough(seq);
      this.#rows -= gone.n;
      this.#bytes -= gone.bytes;
      return gone.n;
    }
    const nested = this.#db.inTransaction;
    const removed = this.#db
      .transaction(() => {
        const gone = this.#db.prepare<[number], { n: number; b: number | null }>('SELECT COUNT(*) AS n, SUM(bytes) AS b FROM sync_outbox WHERE seq <= ?').get(seq)!;
        if (gone.n > 0) this.#db.prepare('DELETE FROM sync_outbox WHERE seq <= ?').run(seq);
        return gone;
      })
      .immediate();
    if (nested) this.#recent.forget();
    else this.#recent.settledThrough(seq);
    this.#rows -= removed.n;
    this.#bytes -= removed.b ?? 0;
    return removed.n;
  }

  /** The first seq waiting for an ack, or null when the outbox is empty. */
  firstSeq(): number | null {
    return this.#db.prepare<[], { s: number | null }>('SELECT MIN(seq) AS s FROM sync_outbox').get()?.s ?? null;
  }

  /** The highest seq ever handed out by this outbox (0 before the first). An ack above it is bogus. */
  lastAssignedSeq(): number {
    this.#lastSeq ??= this.#db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'sync_outbox'").get()?.seq ?? 0;
    return this.#lastSeq;
  }

  depth(): OutboxDepth {
    if (!this.#db.inTransaction) this.#freshCounts();
    return { rows: this.#rows, bytes: this.#bytes };
  }
}
