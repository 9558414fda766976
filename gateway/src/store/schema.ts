// The gateway's migrations (component `gateway`), in the shared migration mechanism: numbered steps,
// STRICT tables, applied in one transaction at start. Each step is composed from the aggregates'
// own table definitions (sqlite/*.ts), in an order where a table follows those it references.
import type { MigrationSet } from '../../../lib/index.ts';
import { createCaTable } from './sqlite/ca.ts';
import { createConnectionTable } from './sqlite/connections.ts';
import { createCatalogTables, trackCatalogAdders } from './sqlite/catalog.ts';
import { createUsedChallengeTable } from './sqlite/challenges.ts';
import { createConsoleSessionTable } from './sqlite/console-sessions.ts';
import { bindDeviceKeys, createDeviceTables, indexDevicesByHostname } from './sqlite/devices.ts';
import { createEventTable, countEventsPerDay, indexEventsByTime, indexEventsByUser } from './sqlite/events.ts';
import { createInventoryTables, indexMcpInventoryByFingerprint } from './sqlite/inventory.ts';
import { createOutboxStreamTable } from './sqlite/outbox-streams.ts';
import { createMetaTable, createSettingsTable } from './sqlite/settings.ts';
import { createSsoTables } from './sqlite/sso.ts';
import { createUserKeyTables } from './sqlite/users-keys.ts';

export const GATEWAY_MIGRATIONS: MigrationSet = {
  component: 'gateway',
  migrations: [
    {
      version: 1,
      name: 'users, keys, devices, catalogs, decisions, settings, events, inventory, ca',
      up: (db) => {
        for (const create of [
          createMetaTable, createUserKeyTables, createDeviceTables, createCatalogTables, createSettingsTable,
          createOutboxStreamTable, createEventTable, createInventoryTables, createCaTable,
        ]) create(db);
      },
    },
    { version: 2, name: 'events by user', up: indexEventsByUser },
    { version: 3, name: 'device keys, sign-ins per device, short-lived device tokens', up: bindDeviceKeys },
    { version: 4, name: 'catalog items remember the device that added them (device budgets)', up: trackCatalogAdders },
    { version: 5, name: 'SSO: IdP identities, refresh families and tokens, user names and marks, sign-in methods', up: createSsoTables },
    {
      version: 6,
      name: 'for the console: devices by hostname, events counted per day, MCP inventory by fingerprint',
      up: (db) => {
        indexDevicesByHostname(db);
        countEventsPerDay(db);
        indexMcpInventoryByFingerprint(db);
      },
    },
    { version: 7, name: 'events by time (retention)', up: indexEventsByTime },
    { version: 8, name: 'device connections: which replica holds each device, and its heartbeat', up: createConnectionTable },
    {
      version: 9,
      name: 'used challenges and console sessions in the database (the interface replicas share on PostgreSQL)',
      up: (db) => {
        createUsedChallengeTable(db);
        createConsoleSessionTable(db);
      },
    },
  ],
};
