// Versioned schema migrations. Each component (a room, or the gateway) owns a numbered list of steps
// for its own tables; every pending step of every component runs in one transaction at start.
import type { Database } from './sqlite.ts';

export interface Migration {
  /** 1, 2, 3... in order, never reused or renumbered once shipped. */
  version: number;
  /** What the step does, kept in the database for support. */
  name: string;
  up: (db: Database) => void;
}

export interface MigrationSet {
  /** Who owns these tables: `store`, `sync`, `mcp`, `gateway`... */
  component: string;
  migrations: readonly Migration[];
}

export class SchemaTooNewError extends Error {
  constructor(component: string, found: number, known: number) {
    super(
      `database schema for "${component}" is at version ${found} but this build knows only up to ${known}; ` +
        'it was written by a newer Heimdall: install that version again or move the database aside',
    );
    this.name = 'SchemaTooNewError';
  }
}

export interface AppliedMigration {
  component: string;
  version: number;
  name: string;
}

const BOOKKEEPING = `CREATE TABLE IF NOT EXISTS schema_migrations (
  component TEXT NOT NULL,
  version INTEGER NOT NULL,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  PRIMARY KEY (component, version)
) STRICT`;

function checkSet(set: MigrationSet): void {
  set.migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migrations of "${set.component}" must be numbered 1, 2, 3...: position ${i + 1} has version ${m.version}`);
    }
  });
}

/** Applies every pending migration of every set in one transaction; returns what it applied. */
export function applyMigrations(db: Database, sets: readonly MigrationSet[]): AppliedMigration[] {
  sets.forEach(checkSet);
  const components = new Set<string>();
  for (const set of sets) {
    if (components.has(set.component)) throw new Error(`two migration sets claim the component "${set.component}"`);
    components.add(set.component);
  }
  db.exec(BOOKKEEPING);
  const currentVersion = db.prepare<[string], { v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations WHERE component = ?');
  const record = db.prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)');
  const applied: AppliedMigration[] = [];
  const run = db.transaction(() => {
    for (const set of sets) {
      const current = currentVersion.get(set.component)?.v ?? 0;
      if (current > set.migrations.length) throw new SchemaTooNewError(set.component, current, set.migrations.length);
      for (const m of set.migrations.slice(current)) {
        m.up(db);
        record.run(set.component, m.version, m.name, new Date().toISOString());
        applied.push({ component: set.component, version: m.version, name: m.name });
      }
    }
  });
  run.immediate();
  return applied;
}

/** The version each component is at, for status and tests. */
export function schemaVersions(db: Database): Record<string, number> {
  const rows = db.prepare<[], { component: string; v: number }>('SELECT component, MAX(version) AS v FROM schema_migrations GROUP BY component').all();
  return Object.fromEntries(rows.map((r) => [r.component, r.v]));
}
