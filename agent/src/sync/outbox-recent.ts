// The outbox rows this process committed and the gateway has not yet acknowledged, kept in memory
// so the sender sends what was just written without reading it back from SQLite (issue 22: the
// read and its row objects were ~2% of the daemon's main thread at 32 concurrent apps). The table
// stays the record: a row is here only after its transaction committed, leaves when the table loses
// it (ack, compaction, quarantine, a newer inventory report), and anything older or unknown is read
// from SQLite as before (after a restart, or once this copy was trimmed to its bound).
import type { OutboxEntry } from './outbox.ts';

/** Bounds on the copy; past them the oldest rows are left to SQLite (a gateway down for long). */
export interface RecentRowsLimits {
  maxRows: number;
  maxBytes: number;
}

export const DEFAULT_RECENT_LIMITS: RecentRowsLimits = { maxRows: 2048, maxBytes: 1024 * 1024 };

/**
 * Invariant: the table's rows with a seq above `from` are exactly `rows`, in seq order. `from` is
 * Infinity while that is not known (a write inside someone else's transaction, which may still roll
 * back); the next rows this outbox commits anchor it again.
 */
export class RecentRows {
  readonly #limits: RecentRowsLimits;
  #from: number;
  #rows: OutboxEntry[] = [];
  #bytes = 0;

  /** `lastSeq`: the highest seq in the table's history when the outbox opened; every row at or below it is SQLite's. */
  constructor(lastSeq: number, limits: RecentRowsLimits = DEFAULT_RECENT_LIMITS) {
    this.#from = lastSeq;
    this.#limits = limits;
  }

  /** Rows held (tests, and the outbox's check that the copy holds every row of the table). */
  get size(): number {
    return this.#rows.length;
  }

  /** Whether every row with a seq above `after` is here. */
  covers(after: number): boolean {
    return after >= this.#from;
  }

  /** Rows with a seq above `after`, oldest first, at most `limit`; only when covers(after). */
  after(after: number, limit: number): OutboxEntry[] {
    const rows = this.#rows;
    let lo = 0;
    let hi = rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (rows[mid]!.seq <= after) lo = mid + 1;
      else hi = mid;
    }
    return rows.slice(lo, lo + limit);
  }

  /** Rows up to and including `seq` held here: their count and bytes. */
  through(seq: number): { n: number; bytes: number } {
    let n = 0;
    let bytes = 0;
    for (const row of this.#rows) {
      if (row.seq > seq) break;
      n++;
      bytes += row.bytes;
    }
    return { n, bytes };
  }

  /**
   * Rows one transaction committed, with seqs above every row in the table (AUTOINCREMENT on the one
   * connection that writes the outbox). If they do not follow the last row known here, something else
   * wrote in between: the copy starts again from them, and the result says so.
   */
  committed(rows: readonly OutboxEntry[], lastSeqBefore: number): 'followed' | 'anchored' {
    if (rows.length === 0) return 'followed';
    let result: 'followed' | 'anchored' = 'followed';
    if (this.#from === Infinity || rows[0]!.seq !== lastSeqBefore + 1) {
      this.#rows = [];
      this.#bytes = 0;
      this.#from = rows[0]!.seq - 1;
      result = 'anchored';
    }
    for (const row of rows) {
      this.#rows.push(row);
      this.#bytes += row.bytes;
    }
    this.#trim();
    return result;
  }

  /**
   * The table lost or replaced rows up to and including `seq` (an ack, a compaction or quarantine
   * writing a gap event at `seq`): from now on those seqs are SQLite's.
   */
  settledThrough(seq: number): void {
    if (seq <= this.#from) return;
    this.#dropThrough(seq);
    this.#from = seq;
  }

  /** The table's rows of `kind` were deleted (a newer inventory report replaces an unsent one). */
  deletedKind(kind: OutboxEntry['kind']): void {
    if (!this.#rows.some((r) => r.kind === kind)) return;
    this.#rows = this.#rows.filter((r) => r.kind !== kind);
    this.#bytes = this.#rows.reduce((sum, r) => sum + r.bytes, 0);
  }

  /** What the table holds above `from` is no longer known: read everything from SQLite until the next commit anchors the copy. */
  forget(): void {
    this.#rows = [];
    this.#bytes = 0;
    this.#from = Infinity;
  }

  #trim(): void {
    const { maxRows, maxBytes } = this.#limits;
    if (this.#rows.length <= maxRows && this.#bytes <= maxBytes) return;
    let drop = 0;
    let bytes = this.#bytes;
    while (drop < this.#rows.length && (this.#rows.length - drop > maxRows || bytes > maxBytes)) {
      bytes -= this.#rows[drop]!.bytes;
      drop++;
    }
    this.#from = this.#rows[drop - 1]!.seq;
    this.#rows = this.#rows.slice(drop);
    this.#bytes = bytes;
  }

  #dropThrough(seq: number): void {
    let drop = 0;
    while (drop < this.#rows.length && this.#rows[drop]!.seq <= seq) {
      this.#bytes -= this.#rows[drop]!.bytes;
      drop++;
    }
    if (drop > 0) this.#rows = this.#rows.slice(drop);
  }
}
