// Apps seen making requests on this machine, with their last decision and counts: the data behind
// `heimdall apps` and the blocked counts in `heimdall status`.
import type { Database } from '../store/index.ts';
import type { PolicyDecision } from './schema.ts';

export interface SeenAppUse {
  appId: string;
  displayName: string;
  kind: string;
  /** Script or executable path behind a derived id, for people. */
  subject?: string | undefined;
  osUser?: string | undefined;
  decision: PolicyDecision;
  /** How many requests this record stands for (default 1). */
  requests?: number;
}

export interface SeenAppRow {
  appId: string;
  displayName: string;
  kind: string;
  subject: string | null;
  firstSeenAt: string;
  lastUsedAt: string;
  lastOsUser: string | null;
  lastVerdict: 'allow' | 'block';
  lastStatus: string;
  allowedCount: number;
  blockedCount: number;
}

interface Row {
  app_id: string;
  display_name: string;
  kind: string;
  subject: string | null;
  first_seen_at: string;
  last_used_at: string;
  last_os_user: string | null;
  last_verdict: 'allow' | 'block';
  last_status: string;
  allowed_count: number;
  blocked_count: number;
}

export class SeenApps {
  readonly #db: Database;
  readonly #clock: () => Date;

  constructor(options: { db: Database; clock?: () => Date }) {
    this.#db = options.db;
    this.#clock = options.clock ?? (() => new Date());
  }

  record(use: SeenAppUse): void {
    this.#upsert(use, countsOf(use));
  }

  /**
   * Records a batch of uses in one transaction, one row write per app: the counts add up, the last
   * use of each app sets its last decision and user.
   */
  recordMany(uses: readonly SeenAppUse[]): void {
    const byApp = new Map<string, SeenAppUse & { allowed: number; blocked: number }>();
    for (const use of uses) {
      const { allowed, blocked } = countsOf(use);
      const prior = byApp.get(use.appId);
      byApp.set(use.appId, {
        ...use,
        subject: use.subject ?? prior?.subject,
        osUser: use.osUser ?? prior?.osUser,
        allowed: (prior?.allowed ?? 0) + allowed,
        blocked: (prior?.blocked ?? 0) + blocked,
      });
    }
    this.#db.transaction(() => {
      for (const use of byApp.values()) this.#upsert(use, { allowed: use.allowed, blocked: use.blocked });
    })();
  }

  #upsert(use: SeenAppUse, { allowed, blocked }: { allowed: number; blocked: number }): void {
    const now = this.#clock().toISOString();
    this.#db
      .prepare(
        `INSERT INTO seen_apps (app_id, display_name, kind, subject, first_seen_at, last_used_at, last_os_user, last_verdict, last_status, allowed_count, blocked_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(app_id) DO UPDATE SET display_name = excluded.display_name, kind = excluded.kind,
           subject = COALESCE(excluded.subject, subject), last_used_at = excluded.last_used_at,
           last_os_user = COALESCE(excluded.last_os_user, last_os_user), last_verdict = excluded.last_verdict,
           last_status = excluded.last_status, allowed_count = allowed_count + excluded.allowed_count,
           blocked_count = blocked_count + excluded.blocked_count`,
      )
      .run(use.appId, use.displayName, use.kind, use.subject ?? null, now, now, use.osUser ?? null, use.decision.verdict, use.decision.status, allowed, blocked);
  }

  list(): SeenAppRow[] {
    return listSeenApps(this.#db);
  }
}

/** How many requests a use stands for, split by the verdict they got. */
function countsOf(use: SeenAppUse): { allowed: number; blocked: number } {
  const n = Math.max(1, Math.floor(use.requests ?? 1));
  return use.decision.verdict === 'allow' ? { allowed: n, blocked: 0 } : { allowed: 0, blocked: n };
}

/** Every app seen, most recently used first. */
export function listSeenApps(db: Database): SeenAppRow[] {
  return db
    .prepare<[], Row>('SELECT * FROM seen_apps ORDER BY last_used_at DESC, app_id')
    .all()
    .map((r) => ({
      appId: r.app_id,
      displayName: r.display_name,
      kind: r.kind,
      subject: r.subject,
      firstSeenAt: r.first_seen_at,
      lastUsedAt: r.last_used_at,
      lastOsUser: r.last_os_user,
      lastVerdict: r.last_verdict,
      lastStatus: r.last_status,
      allowedCount: r.allowed_count,
      blockedCount: r.blocked_count,
    }));
}

/** For `heimdall status`: how many apps are blocked now and how many requests were blocked in total. */
export function blockedSummary(db: Database): { appsBlockedNow: number; blockedRequests: number } {
  const row = db
    .prepare<[], { apps: number | null; requests: number | null }>(
      "SELECT SUM(CASE WHEN last_verdict = 'block' THEN 1 ELSE 0 END) AS apps, SUM(blocked_count) AS requests FROM seen_apps",
    )
    .get();
  return { appsBlockedNow: row?.apps ?? 0, blockedRequests: row?.requests ?? 0 };
}
