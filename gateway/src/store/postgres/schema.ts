// The PostgreSQL schema: numbered migrations composed from the aggregates' own table definitions
// (one file per aggregate, as on SQLite), applied at start by one replica at a time under a
// session advisory lock, each migration in one transaction with its row in `gw_migrations`.
import type pg from 'pg';
import { CA_TABLES } from './ca.ts';
import { CATALOG_TABLES } from './catalog.ts';
import { CONNECTION_TABLES } from './connections.ts';
import { CHALLENGE_TABLES } from './challenges.ts';
import { CONSOLE_SESSION_TABLES } from './console-sessions.ts';
import { DEVICE_TABLES } from './devices.ts';
import { EVENT_TABLES } from './events.ts';
import { INVENTORY_TABLES } from './inventory.ts';
import { OUTBOX_STREAM_TABLES } from './outbox-streams.ts';
import { SETTINGS_TABLES } from './settings.ts';
import { SSO_TABLES } from './sso.ts';
import { USER_KEY_TABLES } from './users-keys.ts';

export interface PgMigration {
  version: number;
  name: string;
  statements: readonly string[];
}

/**
 * Version 1 is the schema SQLite reaches at its version 6 (same tables, columns and constraints),
 * plus what several replicas need: the policy version as a counter row and events partitioned by month.
 */
export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    version: 1,
    name: 'users, keys, devices, catalogs, decisions, settings, events by month, inventory, ca, sso',
    statements: [
      ...SETTINGS_TABLES, ...USER_KEY_TABLES, ...DEVICE_TABLES, ...CATALOG_TABLES, ...OUTBOX_STREAM_TABLES,
      ...EVENT_TABLES, ...INVENTORY_TABLES, ...CA_TABLES, ...SSO_TABLES,
    ],
  },
  { version: 2, name: 'device connections: which replica holds each device, and its heartbeat', statements: CONNECTION_TABLES },
  { version: 3, name: 'shared by replicas: used challenges, console sessions', statements: [...CHALLENGE_TABLES, ...CONSOLE_SESSION_TABLES] },
];

/** Advisory-lock key (`HM`, 1) held while one replica migrates; the others wait, then find nothing to do. */
const MIGRATION_LOCK: [number, number] = [0x484d, 1];

export class PgSchemaTooNewError extends Error {
  override name = 'PgSchemaTooNewError';
}

/** The newest version this build knows. */
export const PG_SCHEMA_VERSION = Math.max(...PG_MIGRATIONS.map((m) => m.version));

/** Applies the migrations not yet applied; returns the versions this call applied. */
export async function migrate(client: pg.PoolClient, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number[]> {
  await client.query('SELECT pg_advisory_lock($1, $2)', MIGRATION_LOCK);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS gw_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM gw_migrations ORDER BY version');
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    const known = Math.max(...migrations.map((m) => m.version));
    if (newest > known) {
      throw new PgSchemaTooNewError(
        `the gateway database is at schema version ${newest}, newer than this gateway knows (${known}): a newer gateway replica migrated it; run that version on every replica`,
      );
    }
    const done: number[] = [];
    for (const m of migrations) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        for (const sql of m.statements) await client.query(sql);
        await client.query('INSERT INTO gw_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`gateway database migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
      }
      done.push(m.version);
    }
    return done;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, $2)', MIGRATION_LOCK);
  }
}
