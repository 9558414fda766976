// The app and MCP catalogs: tables `catalog_items` (global status), `user_decisions` (per-user
// overrides) and `catalog_sightings` (which devices report or asked for an item: the fleet count).
import type { Database, Statement } from 'better-sqlite3';
import type { SchemaDatabase } from '../../../../lib/index.ts';
import type { CatalogStatus } from '../../../../protocol/index.ts';
import type { CatalogItemRecord, CatalogKind, CatalogPageQuery, CatalogSighting, CatalogStore, PolicyItem, UserDecision } from '../types.ts';
import { CATALOG_SELECT, type CatalogRow } from '../rows.ts';
import { bumpPolicyVersionIn } from './settings.ts';

export function createCatalogTables(db: SchemaDatabase): void {
  db.exec(`CREATE TABLE catalog_items (
    kind TEXT NOT NULL CHECK (kind IN ('app', 'mcp')),
    id TEXT NOT NULL,
    display_name TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    app TEXT,
    transport TEXT,
    first_seen_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    decided_at TEXT,
    PRIMARY KEY (kind, id)
  ) STRICT`);
  db.exec(`CREATE TABLE user_decisions (
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    decided_at TEXT NOT NULL,
    PRIMARY KEY (kind, item_id, user_id),
    FOREIGN KEY (kind, item_id) REFERENCES catalog_items(kind, id)
  ) STRICT`);
  db.exec(`CREATE TABLE catalog_sightings (
    kind TEXT NOT NULL,
    item_id TEXT NOT NULL,
    device_id TEXT NOT NULL REFERENCES devices(id),
    source TEXT NOT NULL CHECK (source IN ('inventory', 'request')),
    last_seen_at TEXT NOT NULL,
    PRIMARY KEY (kind, item_id, device_id, source)
  ) STRICT`);
  db.exec('CREATE INDEX catalog_sightings_device ON catalog_sightings (device_id, kind, source)');
}

/** Which device first reported an item: the catalog budget counts a device's additions. */
export function trackCatalogAdders(db: SchemaDatabase): void {
  db.exec('ALTER TABLE catalog_items ADD COLUMN added_by_device TEXT');
  db.exec('CREATE INDEX catalog_items_added_by ON catalog_items (added_by_device)');
}

export class SqliteCatalogStore implements CatalogStore {
  readonly #db: Database;
  readonly #stmts: {
    upsertSighting: Statement<unknown[]>;
    insertCatalog: Statement<unknown[]>;
    catalogExists: Statement<[string, string], { one: number }>;
    clearInventorySightings: Statement<[string, string]>;
  };

  constructor(db: Database) {
    this.#db = db;
    this.#stmts = {
      catalogExists: db.prepare('SELECT 1 AS one FROM catalog_items WHERE kind = ? AND id = ?'),
      upsertSighting: db.prepare(
        `INSERT INTO catalog_sightings (kind, item_id, device_id, source, last_seen_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO UPDATE SET last_seen_at = excluded.last_seen_at`,
      ),
      insertCatalog: db.prepare(
        `INSERT INTO catalog_items (kind, id, display_name, status, app, transport, first_seen_at, last_seen_at, added_by_device)
         VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)
         ON CONFLICT (kind, id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
           display_name = COALESCE(catalog_items.display_name, excluded.display_name),
           app = COALESCE(excluded.app, catalog_items.app), transport = COALESCE(excluded.transport, catalog_items.transport)`,
      ),
      clearInventorySightings: db.prepare(`DELETE FROM catalog_sightings WHERE device_id = ? AND kind = ? AND source = 'inventory'`),
    };
  }

  /** Records sightings inside the caller's transaction (an inventory replacement runs in one). */
  recordSightingsNow(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): number {
    let created = 0;
    for (const item of items) {
      if (!this.#stmts.catalogExists.get(item.kind, item.id)) created++;
      this.#stmts.insertCatalog.run(item.kind, item.id, item.displayName ?? null, item.app ?? null, item.transport ?? null, at, at, deviceId);
      this.#stmts.upsertSighting.run(item.kind, item.id, deviceId, source, at);
    }
    return created;
  }

  /** Forgets what the device's last inventory of `kind` reported, inside the caller's transaction. */
  clearInventorySightingsNow(deviceId: string, kind: CatalogKind): void {
    this.#stmts.clearInventorySightings.run(deviceId, kind);
  }

  recordSightings(deviceId: string, items: readonly CatalogSighting[], at: string, source: 'inventory' | 'request'): Promise<number> {
    return Promise.resolve(this.#db.transaction(() => this.recordSightingsNow(deviceId, items, at, source))());
  }

  #userDecisionsFor(kind: CatalogKind, id: string): CatalogItemRecord['userDecisions'] {
    return this.#db
      .prepare<[string, string], { user_id: string; email: string; status: CatalogStatus; decided_at: string }>(
        'SELECT d.user_id, u.email, d.status, d.decided_at FROM user_decisions d JOIN users u ON u.id = d.user_id WHERE d.kind = ? AND d.item_id = ? ORDER BY u.email',
      )
      .all(kind, id)
      .map((r) => ({ userId: r.user_id, userEmail: r.email, status: r.status, decidedAt: r.decided_at }));
  }

  #toCatalog(r: CatalogRow): CatalogItemRecord {
    return {
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
      userDecisions: this.#userDecisionsFor(r.kind, r.id),
    };
  }

  listCatalog(kind: CatalogKind): Promise<CatalogItemRecord[]> {
    const rows = this.#db.prepare<[string], CatalogRow>(`${CATALOG_SELECT} WHERE c.kind = ? ORDER BY c.id`).all(kind);
    return Promise.resolve(rows.map((r) => this.#toCatalog(r)));
  }

  getCatalogItem(kind: CatalogKind, id: string): Promise<CatalogItemRecord | undefined> {
    const row = this.#db.prepare<[string, string], CatalogRow>(`${CATALOG_SELECT} WHERE c.kind = ? AND c.id = ?`).get(kind, id);
    return Promise.resolve(row ? this.#toCatalog(row) : undefined);
  }

  setGlobalDecision(kind: CatalogKind, id: string, status: CatalogStatus, at: string): Promise<number> {
    return Promise.resolve(
      this.#db.transaction(() => {
        // An administrator may decide on an item before any device reported it.
        this.#db
          .prepare(
            `INSERT INTO catalog_items (kind, id, status, first_seen_at, last_seen_at, decided_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (kind, id) DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at`,
          )
          .run(kind, id, status, at, at, at);
        return bumpPolicyVersionIn(this.#db);
      })(),
    );
  }

  setUserDecision(kind: CatalogKind, id: string, userId: string, status: CatalogStatus | undefined, at: string): Promise<number> {
    const version = this.#db.transaction(() => {
      this.#db
        .prepare(`INSERT INTO catalog_items (kind, id, status, first_seen_at, last_seen_at) VALUES (?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING`)
        .run(kind, id, at, at);
      if (status === undefined) {
        this.#db.prepare('DELETE FROM user_decisions WHERE kind = ? AND item_id = ? AND user_id = ?').run(kind, id, userId);
      } else {
        this.#db
          .prepare(
            `INSERT INTO user_decisions (kind, item_id, user_id, status, decided_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET status = excluded.status, decided_at = excluded.decided_at`,
          )
          .run(kind, id, userId, status, at);
      }
      return bumpPolicyVersionIn(this.#db);
    })();
    return Promise.resolve(version);
  }

  policyItems(): Promise<PolicyItem[]> {
    // Only what an administrator decided: a pending item is what the agent assumes for anything
    // not listed, so devices reporting new items never grow the snapshot (issue 15, attack 2).
    const rows = this.#db
      .prepare<[], { kind: CatalogKind; id: string; display_name: string | null; status: CatalogStatus }>(
        `SELECT kind, id, display_name, status FROM catalog_items c
         WHERE status != 'pending' OR EXISTS (SELECT 1 FROM user_decisions d WHERE d.kind = c.kind AND d.item_id = c.id)
         ORDER BY kind, id`,
      )
      .all();
    return Promise.resolve(rows.map((r) => ({ kind: r.kind, id: r.id, displayName: r.display_name, status: r.status })));
  }

  userDecisions(): Promise<UserDecision[]> {
    const rows = this.#db
      .prepare<[], { kind: CatalogKind; item_id: string; user_id: string; status: CatalogStatus }>('SELECT kind, item_id, user_id, status FROM user_decisions')
      .all();
    return Promise.resolve(rows.map((r) => ({ kind: r.kind, itemId: r.item_id, userId: r.user_id, status: r.status })));
  }

  itemsAddedBy(deviceId: string): Promise<number> {
    return Promise.resolve(this.#db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM catalog_items WHERE added_by_device = ?').get(deviceId)!.n);
  }

  countUnknown(kind: CatalogKind, ids: readonly string[]): Promise<number> {
    let unknown = 0;
    for (const id of new Set(ids)) if (!this.#stmts.catalogExists.get(kind, id)) unknown++;
    return Promise.resolve(unknown);
  }

  deleteCatalogItems(kind: CatalogKind, ids: readonly string[]): Promise<{ deleted: number; version: number | undefined }> {
    const sightings = this.#db.prepare('DELETE FROM catalog_sightings WHERE kind = ? AND item_id = ?');
    const decisions = this.#db.prepare('DELETE FROM user_decisions WHERE kind = ? AND item_id = ?');
    const item = this.#db.prepare('DELETE FROM catalog_items WHERE kind = ? AND id = ?');
    return Promise.resolve(
      this.#db.transaction(() => {
        let deleted = 0;
        for (const id of new Set(ids)) {
          sightings.run(kind, id);
          decisions.run(kind, id);
          deleted += item.run(kind, id).changes;
        }
        return { deleted, version: deleted > 0 ? bumpPolicyVersionIn(this.#db) : undefined };
      })(),
    );
  }

  mergeCatalogItem(kind: CatalogKind, from: string, into: string): Promise<number | undefined> {
    return Promise.resolve(
      this.#db.transaction((): number | undefined => {
        const source = this.#db.prepare<[string, string], CatalogRow>('SELECT *, 0 AS fleet_count FROM catalog_items WHERE kind = ? AND id = ?').get(kind, from);
        if (!source) return undefined;
        // The target keeps its own status and name; it inherits the source's when it is new.
        this.#db
          .prepare(
            `INSERT INTO catalog_items (kind, id, display_name, status, app, transport, first_seen_at, last_seen_at, decided_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (kind, id) DO UPDATE SET first_seen_at = MIN(catalog_items.first_seen_at, excluded.first_seen_at),
               last_seen_at = MAX(catalog_items.last_seen_at, excluded.last_seen_at)`,
          )
          .run(kind, into, source.display_name, source.status, source.app, source.transport, source.first_seen_at, source.last_seen_at, source.decided_at);
        this.#db
          .prepare(
            `INSERT INTO catalog_sightings (kind, item_id, device_id, source, last_seen_at)
             SELECT kind, ?, device_id, source, last_seen_at FROM catalog_sightings WHERE kind = ? AND item_id = ? ORDER BY last_seen_at
             ON CONFLICT DO UPDATE SET last_seen_at = MAX(catalog_sightings.last_seen_at, excluded.last_seen_at)`,
          )
          .run(into, kind, from);
        this.#db
          .prepare(
            `INSERT INTO user_decisions (kind, item_id, user_id, status, decided_at)
             SELECT kind, ?, user_id, status, decided_at FROM user_decisions WHERE kind = ? AND item_id = ? ORDER BY user_id
             ON CONFLICT DO NOTHING`,
          )
          .run(into, kind, from);
        this.#db.prepare('DELETE FROM catalog_sightings WHERE kind = ? AND item_id = ?').run(kind, from);
        this.#db.prepare('DELETE FROM user_decisions WHERE kind = ? AND item_id = ?').run(kind, from);
        this.#db.prepare('DELETE FROM catalog_items WHERE kind = ? AND id = ?').run(kind, from);
        return bumpPolicyVersionIn(this.#db);
      })(),
    );
  }

  catalogPage(kind: CatalogKind, query: CatalogPageQuery): Promise<{ items: CatalogItemRecord[]; total: number }> {
    const where = ['c.kind = ?'];
    const params: string[] = [kind];
    if (query.status) {
      where.push('c.status = ?');
      params.push(query.status);
    }
    if (query.search) {
      const pattern = `%${query.search.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
      where.push("(c.id LIKE ? ESCAPE '\\' OR c.display_name LIKE ? ESCAPE '\\' OR c.app LIKE ? ESCAPE '\\')");
      params.push(pattern, pattern, pattern);
    }
    const total = this.#db.prepare<string[], { n: number }>(`SELECT COUNT(*) AS n FROM catalog_items c WHERE ${where.join(' AND ')}`).get(...params)?.n ?? 0;
    if (query.after !== undefined) {
      where.push('c.id > ?');
      params.push(query.after);
    }
    // The fleet counts are computed for this page's rows only.
    const rows = this.#db.prepare<unknown[], CatalogRow>(`${CATALOG_SELECT} WHERE ${where.join(' AND ')} ORDER BY c.id LIMIT ?`).all(...params, query.limit);
    return Promise.resolve({ items: rows.map((r) => this.#toCatalog(r)), total });
  }

  catalogCounts(): Promise<{ kind: CatalogKind; status: CatalogStatus; count: number }[]> {
    return Promise.resolve(
      this.#db.prepare<[], { kind: CatalogKind; status: CatalogStatus; count: number }>('SELECT kind, status, COUNT(*) AS count FROM catalog_items GROUP BY kind, status').all(),
    );
  }
}
