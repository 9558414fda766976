// Chooses the gateway's store at start: PostgreSQL when the config names one (`store_url`, for
// several replicas), otherwise the embedded SQLite file in the data dir, exactly as before.
import type { Clock, Logger } from '../../../lib/index.ts';
import { PostgresGatewayStore } from './postgres-store.ts';
import { SqliteGatewayStore } from './sqlite-store.ts';
import type { GatewayStore } from './types.ts';

export interface OpenGatewayStoreOptions {
  dataDir: string;
  logger: Logger;
  clock?: Clock | undefined;
  /** From the config's `store_url` / `store_password`; undefined: SQLite. */
  postgres?: { url: string; password: string | undefined } | undefined;
  /** Config `events_retention_days`: both stores prune older events periodically. */
  eventsRetentionDays?: number | undefined;
}

export async function openGatewayStore(options: OpenGatewayStoreOptions): Promise<GatewayStore> {
  const common = { logger: options.logger, eventsRetentionDays: options.eventsRetentionDays, ...(options.clock ? { clock: options.clock } : {}) };
  if (!options.postgres) return new SqliteGatewayStore({ dataDir: options.dataDir, ...common });
  try {
    return await PostgresGatewayStore.open({ url: options.postgres.url, password: options.postgres.password, ...common });
  } catch (err) {
    // pg's messages name the host and the failure, never the password.
    throw new Error(`gateway database (config key store_url): ${(err as Error).message}`, { cause: err });
  }
}
