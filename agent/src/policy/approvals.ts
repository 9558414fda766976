// Approval requests for apps and MCP servers the organization has not decided on: each is reported
// once, and again only while it stays pending for a day (a lost message or a forgotten review).
import type { Database } from '../store/index.ts';
import type { ApprovalRequestMessage } from '../../../protocol/index.ts';
import type { PolicyEngine } from './engine.ts';

export const REREPORT_AFTER_MS = 24 * 60 * 60 * 1000;

export type ApprovalSubject =
  | { kind: 'app'; appId: string; displayName: string; osUser?: string | undefined; details?: Record<string, string> | undefined }
  | { kind: 'mcp'; fingerprint: string; displayName: string; osUser?: string | undefined; details?: Record<string, string> | undefined };

export interface ApprovalTrackerOptions {
  db: Database;
  policy: PolicyEngine;
  clock?: () => Date;
  reReportAfterMs?: number;
}

interface RequestRow {
  kind: 'app' | 'mcp';
  item_key: string;
  display_name: string;
  os_user: string | null;
  details_json: string | null;
  last_reported_at: string | null;
}

const DISPLAY_MAX = { app: 128, mcp: 256 } as const;

// observe() runs on every request of an undecided app. Within this window a repeat use of the same
// item by the same user is answered from memory (the row exists, its report is not due) instead of
// three statements; last_seen_at then moves at this granularity.
const OBSERVE_REFRESH_MS = 60_000;
const MEMO_LIMIT = 10_000;

interface Observed {
  at: number;
  displayName: string;
  osUser: string | undefined;
  lastReportedAt: string | null;
}

export class ApprovalTracker {
  readonly #db: Database;
  readonly #policy: PolicyEngine;
  readonly #clock: () => Date;
  readonly #after: number;
  /** Rows known to exist, with what was last written to them. */
  readonly #observed = new Map<string, Observed>();
  /** Items known to have no row (decided ones are forgotten once, not on every request). */
  readonly #absent = new Set<string>();

  constructor(options: ApprovalTrackerOptions) {
    this.#db = options.db;
    this.#policy = options.policy;
    this.#clock = options.clock ?? (() => new Date());
    this.#after = options.reReportAfterMs ?? REREPORT_AFTER_MS;
  }

  /**
   * Records that a pending or unknown item was used. Returns the `approval.request` to send now when
   * it was never reported, or was reported a day ago and is still pending; otherwise undefined.
   * Items the organization has decided on are forgotten.
   */
  observe(subject: ApprovalSubject): ApprovalRequestMessage | undefined {
    const key = subject.kind === 'app' ? subject.appId : subject.fingerprint;
    const memoKey = `${subject.kind}\0${key}`;
    if (!this.#stillPending(subject.kind, key, subject.osUser)) {
      if (!this.#absent.has(memoKey)) this.#forget(subject.kind, key);
      return undefined;
    }
    const seen = this.#observed.get(memoKey);
    const nowMs = this.#clock().getTime();
    if (seen && nowMs - seen.at < OBSERVE_REFRESH_MS && seen.displayName === subject.displayName && seen.osUser === subject.osUser
      && !this.#due({ last_reported_at: seen.lastReportedAt })) {
      return undefined;
    }
    const now = new Date(nowMs).toISOString();
    this.#db
      .prepare(
        `INSERT INTO approval_requests (kind, item_key, display_name, os_user, details_json, first_seen_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(kind, item_key) DO UPDATE SET display_name = excluded.display_name, os_user = excluded.os_user,
           details_json = excluded.details_json, last_seen_at = excluded.last_seen_at`,
      )
      .run(subject.kind, key, subject.displayName.slice(0, DISPLAY_MAX[subject.kind]), subject.osUser ?? null, subject.details ? JSON.stringify(subject.details) : null, now, now);
    this.#absent.delete(memoKey);
    const row = this.#row(subject.kind, key);
    if (!row) return undefined;
    const report = this.#due(row) ? this.#markReported(row) : undefined;
    if (this.#observed.size >= MEMO_LIMIT) this.#observed.clear();
    this.#observed.set(memoKey, { at: nowMs, displayName: subject.displayName, osUser: subject.osUser, lastReportedAt: report ? now : row.last_reported_at });
    return report;
  }

  /** Every request due now (first report, or still pending after a day), marked as reported. */
  takeDue(): ApprovalRequestMessage[] {
    this.#observed.clear();
    const rows = this.#db.prepare<[], RequestRow>('SELECT kind, item_key, display_name, os_user, details_json, last_reported_at FROM approval_requests').all();
    const due: ApprovalRequestMessage[] = [];
    for (const row of rows) {
      if (!this.#stillPending(row.kind, row.item_key, row.os_user ?? undefined)) {
        this.#forget(row.kind, row.item_key);
      } else if (this.#due(row)) {
        due.push(this.#markReported(row));
      }
    }
    return due;
  }

  /** The request could not be sent (channel down): make it due again so the next takeDue() has it. */
  deferReport(message: ApprovalRequestMessage): void {
    const key = message.kind === 'app' ? message.app_id : message.fingerprint;
    this.#observed.delete(`${message.kind}\0${key}`);
    this.#db.prepare('UPDATE approval_requests SET last_reported_at = NULL WHERE kind = ? AND item_key = ?').run(message.kind, key);
  }

  #stillPending(kind: 'app' | 'mcp', key: string, osUser: string | undefined): boolean {
    const decision = kind === 'app' ? this.#policy.decideApp({ appId: key, osUser }) : this.#policy.decideMcpServer(key, osUser);
    // Without a policy nothing is known to be decided: report it.
    return decision.status === 'pending' || decision.status === 'no_policy';
  }

  #due(row: Pick<RequestRow, 'last_reported_at'>): boolean {
    if (row.last_reported_at === null) return true;
    return this.#clock().getTime() - Date.parse(row.last_reported_at) >= this.#after;
  }

  #row(kind: 'app' | 'mcp', key: string): RequestRow | undefined {
    return this.#db
      .prepare<[string, string], RequestRow>('SELECT kind, item_key, display_name, os_user, details_json, last_reported_at FROM approval_requests WHERE kind = ? AND item_key = ?')
      .get(kind, key);
  }

  #forget(kind: 'app' | 'mcp', key: string): void {
    this.#db.prepare('DELETE FROM approval_requests WHERE kind = ? AND item_key = ?').run(kind, key);
    const memoKey = `${kind}\0${key}`;
    this.#observed.delete(memoKey);
    if (this.#absent.size >= MEMO_LIMIT) this.#absent.clear();
    this.#absent.add(memoKey);
  }

  #markReported(row: RequestRow): ApprovalRequestMessage {
    this.#db
      .prepare('UPDATE approval_requests SET last_reported_at = ?, report_count = report_count + 1 WHERE kind = ? AND item_key = ?')
      .run(this.#clock().toISOString(), row.kind, row.item_key);
    const details = row.details_json === null ? undefined : (JSON.parse(row.details_json) as Record<string, string>);
    const common = { type: 'approval.request' as const, display_name: row.display_name, ...(row.os_user !== null ? { os_user: row.os_user } : {}), ...(details ? { details } : {}) };
    return row.kind === 'app' ? { ...common, kind: 'app', app_id: row.item_key } : { ...common, kind: 'mcp', fingerprint: row.item_key };
  }
}
