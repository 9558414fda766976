// The gateway's storage room: the GatewayStore interface (one interface per aggregate, composed) and
// its embedded SQLite implementation (one module per aggregate, composed by SqliteGatewayStore).
export type * from './types.ts';
export { SqliteGatewayStore, DEFAULT_SETTINGS, GATEWAY_DB_FILE, type SqliteGatewayStoreOptions } from './sqlite-store.ts';
export { GATEWAY_MIGRATIONS } from './schema.ts';
export { DEFAULT_BUDGETS } from './sqlite/settings.ts';
export { PostgresGatewayStore, type PostgresGatewayStoreOptions } from './postgres-store.ts';
export { openGatewayStore, type OpenGatewayStoreOptions } from './open-store.ts';
export { EventRetention, RETENTION_INTERVAL_MS, type PrunableEvents } from './retention.ts';
export { StoreUnavailableError, classifyStoreError } from './errors.ts';
