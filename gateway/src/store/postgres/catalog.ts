// The app and MCP catalogs on PostgreSQL: tables `catalog_items` (global status), `user_decisions`
// (per-user overrides) and `catalog_sightings` (which devices report or asked for an item).
import type { CatalogStatus } from '../../../../protocol/index.ts';
import type { CatalogItemRecord, CatalogKind, CatalogPageQuery, CatalogSighting, CatalogStore, PolicyItem, UserDecision } from '../types.ts';
import type { PgDatabase, Queryable } from './db.ts';
import { containsPattern } from './devices.ts';
import { CATALOG_SELECT, type CatalogRow } from '../rows.ts';
import { bumpPolicyVersionIn } from './settings.ts';

export const CATALOG_TABLES = [
  `CREATE TABLE catalog_items (
    kind TEXT NOT NULL CHECK (kind IN ('app', 'mcp')),
    id TEXT COLLATE "C" NOT NULL,
    display_name TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    app TEXT,
    transport TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    decided_at TEXT,
    added_by_device TEXT,
    PRIMARY KEY (kind, id)
  )`,
  'CREATE INDEX catalog_items_added_by ON catalog_items (added_by_device)',
  `CREATE TABLE user_decisions (
    kind TEXT NOT NULL,
    item_id TEXT COLLATE "C" NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    decided_at TEXT NOT NULL,
    PRIMARY KEY (kind, item_id, user_id),
    FOREIGN KEY (kind, item_id) REFERENCES catalog_items(kind, id)
  )`,
  `CREATE TABLE catalog_sightings (
    kind TEXT NOT NULL,
    item_id TEXT COLLATE "C" NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices(id),
    source TEXT NOT NULL CHECK (source IN ('inventory', 'request')),
    last_seen_at TEXT NOT NULL,
    PRIMARY KEY (kind, item_id, device_id, source)
  )`,
  'CREATE INDEX catalog_sightings_device ON catalog_sightings (device_id, kind, source)',
];

export class PgCatalogStore implements CatalogStore {
  readonly #db: PgDatabase;

  constructor(db: PgDatabase) {
    this.#db = db;
  }

  /** Records sightings inside the caller's transaction (an inventory replacement runs in one). */
  async recordSightingsIn(q: Queryable, deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): Promise<number> {
    let created = 0;
    for (const item of items) {
      // `xmax = 0` tells a row this statement inserted from one it updated: new pending items, counted
      // without a read that another replica could race.
      const row = await q.one<{ inserted: boolean }>(
        `INSERT INTO catalog_items (kind, id, display_name, status, app, transport, first_seen_at, last_seen_at, added_by_device)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6, $7)
         ON CONFLICT (kind, id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
           display_name = COALESCE(catalog_items.display_name, excluded.display_name),
           app = COALESCE(excluded.app, catalog_items.app), transport = COALESCE(excluded.transport, catalog_items.transport)
         RETURNING (xmax = 0) AS inserted`,
        [item.kind, item.id, item.displayName ?? null, item.app ?? null, item.transport ?? null, at, deviceId],
      );
      if (row?.inserted) created++;
      await q.run(
        `INSERT INTO catalog_sightings (kind, item_id, device_id, source, last_seen_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, item_id, device_id, source) DO UPDATE SET last_seen_at = excluded.last_seen_at`,
        [item.kind, item.id, deviceId, source, at],
      );
    }
    return created;
  }

  /** Forgets what the device's last inventory of `kind` reported, inside the caller's transaction. */
  async clearInventorySightingsIn(q: Queryable, deviceId: string, kind: CatalogKind): Promise<void> {
    await q.run(`DELETE FROM catalog_sightings WHERE device_id = $1 AND kind = $2 AND source = 'inventory'`, [deviceId, kind]);
  }

  recordSightings(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): Promise<number> {
    return this.#db.tx((q) => this.recordSightingsIn(q, deviceId, items, at, source));
  }

  async #toCatalog(rows: CatalogRow[]): Promise<CatalogItemRecord[]> {
    if (rows.length === 0) return [];
    // One query for the page's user decisions, not one per row.
    const decisions = await this.#db.rows<{ kind: CatalogKind; item_id: string; user_id: string; email: string; status: CatalogStatus; decided_at: string }>(
      `SELECT d.kind, d.item_id, d.user_id, u.email, d.status, d.decided_at FROM user_decisions d JOIN users u ON u.id = d.user_id
       WHERE (d.kind, d.item_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) ORDER BY u.email`,
      [rows.map((r) => r.kind), rows.map((r) => r.id)],
    );
    return rows.map((r) => ({
      kind: r.kind,
      id: r.id,
      displayName: r.display_name,
      status: r.status,
      firstSeenAt: r.first_seen_at,
      lastSeenAt: r.last_seen_at,
      decidedAt: r.decided_at,
      fleetCount: r.fleet_count,
      app: r.app,
      transport: r.transport,
      userDecisions: decisions
        .filter((d) => d.kind === r.kind && d.item_id === r.id)
        .map((d) => ({ userId: d.user_id, userEmail: d.email, status: d.status, decidedAt: d.decided_at })),
    }));
  }

  async listCatalog(kind: CatalogKind): Promise<CatalogItemRecord[]> {
    return this.#toCatalog(await this.#db.rows<CatalogRow>(`${CATALOG_SELECT} WHERE c.kind = $1 ORDER BY c.id`, [kind]));
  }

  async getCatalogItem(kind: CatalogKind, id: string): Promise<CatalogItemRecord | undefined> {
    return (await this.#toCatalog(await this.#db.rows<CatalogRow>(`${CATALOG_SELECT} WHERE c.kind = $1 AND c.id = $2`, [kind, id])))[0];
  }

  setGlobalDecision(kind: CatalogKind, id: string, status: CatalogStatus, at: string): Promise<number> {
    return this.#db.tx(async (q) => {
      // An administrator may decide on an item before any device reported it.
      await q.run(
        `INSERT INTO catalog_items (kind, id, status, first_seen_at, last_seen_at, decided_at) VALUES ($1, $2, $3, $4, $4, $4)
         ON CONFLICT (kind, id) DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at`,
        [kind, id, status, at],
      );
      return bumpPolicyVersionIn(q);
    });
  }

  setUserDecision(kind: CatalogKind, id: string, userId: string, status: CatalogStatus | undefined, at: string): Promise<number> {
    return this.#db.tx(async (q) => {
      await q.run(`INSERT INTO catalog_items (kind, id, status, first_seen_at, last_seen_at) VALUES ($1, $2, 'pending', $3, $3) ON CONFLICT DO NOTHING`, [kind, id, at]);
      if (status === undefined) {
        await q.run('DELETE FROM user_decisions WHERE kind = $1 AND item_id = $2 AND user_id = $3', [kind, id, userId]);
      } else {
        await q.run(
          `INSERT INTO user_decisions (kind, item_id, user_id, status, decided_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (kind, item_id, user_id) DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at`,
          [kind, id, userId, status, at],
        );
      }
      return bumpPolicyVersionIn(q);
    });
  }

  async policyItems(): Promise<PolicyItem[]> {
    // Only what an administrator decided (issue 15, attack 2): new pending items never grow the snapshot.
    const rows = await this.#db.rows<{ kind: CatalogKind; id: string; display_name: string | null; status: CatalogStatus }>(
      `SELECT kind, id, display_name, status FROM catalog_items c
       WHERE status <> 'pending' OR EXISTS (SELECT 1 FROM user_decisions d WHERE d.kind = c.kind AND d.item_id = c.id)
       ORDER BY kind, id`,
    );
    return rows.map((r) => ({ kind: r.kind, id: r.id, displayName: r.display_name, status: r.status }));
  }

  async userDecisions(): Promise<UserDecision[]> {
    const rows = await this.#db.rows<{ kind: CatalogKind; item_id: string; user_id: string; status: CatalogStatus }>(
      'SELECT kind, item_id, user_id, status FROM user_decisions ORDER BY kind, item_id, user_id',
    );
    return rows.map((r) => ({ kind: r.kind, itemId: r.item_id, userId: r.user_id, status: r.status }));
  }

  async itemsAddedBy(deviceId: string): Promise<number> {
    return (await this.#db.one<{ n: number }>('SELECT COUNT(*) AS n FROM catalog_items WHERE added_by_device = $1', [deviceId]))!.n;
  }

  async countUnknown(kind: CatalogKind, ids: readonly string[]): Promise<number> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return 0;
    const known = (await this.#db.one<{ n: number }>('SELECT COUNT(*) AS n FROM catalog_items WHERE kind = $1 AND id = ANY($2::text[])', [kind, unique]))!.n;
    return unique.length - known;
  }

  deleteCatalogItems(kind: CatalogKind, ids: readonly string[]): Promise<{ deleted: number; version: number | undefined }> {
    const unique = [...new Set(ids)];
    return this.#db.tx(async (q) => {
      await q.run('DELETE FROM catalog_sightings WHERE kind = $1 AND item_id = ANY($2::text[])', [kind, unique]);
      await q.run('DELETE FROM user_decisions WHERE kind = $1 AND item_id = ANY($2::text[])', [kind, unique]);
      const deleted = await q.run('DELETE FROM catalog_items WHERE kind = $1 AND id = ANY($2::text[])', [kind, unique]);
      return { deleted, version: deleted > 0 ? await bumpPolicyVersionIn(q) : undefined };
    });
  }

  mergeCatalogItem(kind: CatalogKind, from: string, into: string): Promise<number | undefined> {
    return this.#db.tx(async (q) => {
      // Locked so that a concurrent merge on another replica waits rather than folding twice.
      const source = await q.one<CatalogRow>('SELECT * FROM catalog_items WHERE kind = $1 AND id = $2 FOR UPDATE', [kind, from]);
      if (!source) return undefined;
      // The target keeps its own status and name; it inherits the source's when it is new.
      await q.run(
        `INSERT INTO catalog_items (kind, id, display_name, status, app, transport, first_seen_at, last_seen_at, decided_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (kind, id) DO UPDATE SET first_seen_at = LEAST(catalog_items.first_seen_at, excluded.first_seen_at),
           last_seen_at = GREATEST(catalog_items.last_seen_at, excluded.last_seen_at)`,
        [kind, into, source.display_name, source.status, source.app, source.transport, source.first_seen_at, source.last_seen_at, source.decided_at],
      );
      await q.run(
        `INSERT INTO catalog_sightings (kind, item_id, device_id, source, last_seen_at)
         SELECT kind, $1, device_id, source, last_seen_at FROM catalog_sightings WHERE kind = $2 AND item_id = $3
         ON CONFLICT (kind, item_id, device_id, source) DO UPDATE SET last_seen_at = GREATEST(catalog_sightings.last_seen_at, excluded.last_seen_at)`,
        [into, kind, from],
      );
      await q.run(
        `INSERT INTO user_decisions (kind, item_id, user_id, status, decided_at)
         SELECT kind, $1, user_id, status, decided_at FROM user_decisions WHERE kind = $2 AND item_id = $3
         ON CONFLICT DO NOTHING`,
        [into, kind, from],
      );
      await q.run('DELETE FROM catalog_sightings WHERE kind = $1 AND item_id = $2', [kind, from]);
      await q.run('DELETE FROM user_decisions WHERE kind = $1 AND item_id = $2', [kind, from]);
      await q.run('DELETE FROM catalog_items WHERE kind = $1 AND id = $2', [kind, from]);
      return bumpPolicyVersionIn(q);
    });
  }

  async catalogPage(kind: CatalogKind, query: CatalogPageQuery): Promise<{ items: CatalogItemRecord[]; total: number }> {
    const where = ['c.kind = $1'];
    const params: (string | number)[] = [kind];
    const param = (value: string | number): string => {
      params.push(value);
      return `$${params.length}`;
    };
    if (query.status) where.push(`c.status = ${param(query.status)}`);
    if (query.search) {
      const pattern = param(containsPattern(query.search));
      where.push(`(c.id ILIKE ${pattern} OR c.display_name ILIKE ${pattern} OR c.app ILIKE ${pattern})`);
    }
    const total = (await this.#db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM catalog_items c WHERE ${where.join(' AND ')}`, params))?.n ?? 0;
    if (query.after !== undefined) where.push(`c.id > ${param(query.after)}`);
    // The fleet counts are computed for this page's rows only.
    const rows = await this.#db.rows<CatalogRow>(`${CATALOG_SELECT} WHERE ${where.join(' AND ')} ORDER BY c.id LIMIT ${param(query.limit)}`, params);
    return { items: await this.#toCatalog(rows), total };
  }

  async catalogCounts(): Promise<{ kind: CatalogKind; status: CatalogStatus; count: number }[]> {
    return this.#db.rows<{ kind: CatalogKind; status: CatalogStatus; count: number }>('SELECT kind, status, COUNT(*) AS count FROM catalog_items GROUP BY kind, status ORDER BY kind, status');
  }
}
