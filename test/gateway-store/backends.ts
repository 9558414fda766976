// The two GatewayStore implementations the contract suite runs against, each opened on a fresh,
// real database: a SQLite file in a temp folder, and a new database on a real PostgreSQL 15 server
// started once per file (test/helpers/postgres.ts). Absent PostgreSQL fails the suite, never skips it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger, type Clock } from '../../lib/index.ts';
import { PostgresGatewayStore, SqliteGatewayStore, type EventRetention } from '../../gateway/src/store/index.ts';
import type { CatalogStore, DeviceStore, EventStore, GatewayStore, InventoryStore, SettingsStore, SsoStore, UserKeyStore } from '../../gateway/src/store/index.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

/** The composed door plus the aggregates, as both stores expose them. */
export type ContractStore = GatewayStore & {
  keys: UserKeyStore;
  devices: DeviceStore;
  catalog: CatalogStore;
  settings: SettingsStore;
  events: EventStore;
  inventory: InventoryStore;
  sso: SsoStore;
};

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** Once per file. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A fresh, empty database for one test. */
  fresh(): Promise<void>;
  /** Opens a store on the current test's database (again: a reopen sees what was stored). */
  open(clock: Clock, options?: { eventsRetentionDays?: number }): Promise<ContractStore & { retention: EventRetention | undefined }>;
  /** Removes the current test's database. */
  drop(): Promise<void>;
}

export function sqliteBackend(): Backend {
  let dir = '';
  return {
    name: 'sqlite',
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    fresh() {
      dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-store-'));
      return Promise.resolve();
    },
    open: (clock, options = {}) => Promise.resolve(new SqliteGatewayStore({ dataDir: dir, logger: silentLogger(), clock, ...options })),
    drop() {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

export function postgresBackend(): Backend & { server(): TestPostgres; url(): string } {
  let server: TestPostgres | undefined;
  let n = 0;
  let url = '';
  return {
    name: 'postgres',
    async start() {
      server = await startTestPostgres();
    },
    async stop() {
      await server?.stop();
    },
    async fresh() {
      url = await server!.createDatabase(`contract_${process.pid}_${++n}`);
    },
    open: (clock, options = {}) => PostgresGatewayStore.open({ url, logger: silentLogger(), clock, ...options }),
    drop: () => Promise.resolve(),
    server: () => server!,
    url: () => url,
  };
}
