// The gateway's tables (component `gateway`), in the agent's migration mechanism: numbered steps,
// STRICT tables, applied in one transaction at start.
import type { MigrationSet } from '../../../lib/index.ts';

export const GATEWAY_MIGRATIONS: MigrationSet = {
  component: 'gateway',
  migrations: [
    {
      version: 1,
      name: 'users, keys, devices, catalogs, decisions, settings, events, inventory, ca',
      up: (db) => {
        db.exec(`CREATE TABLE gw_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
        db.exec(`CREATE TABLE users (
          id TEXT PRIMARY KEY,
          email TEXT NOT NULL UNIQUE COLLATE NOCASE,
          created_at TEXT NOT NULL
        ) STRICT`);
        // Only a hash of each virtual key: the key itself is shown once, at creation.
        db.exec(`CREATE TABLE virtual_keys (
          id TEXT PRIMARY KEY,
          user_id TEXT NOT NULL REFERENCES users(id),
          key_hash TEXT NOT NULL UNIQUE,
          prefix TEXT NOT NULL,
          name TEXT,
          created_at TEXT NOT NULL,
          revoked_at TEXT,
          last_used_at TEXT
        ) STRICT`);
        db.exec(`CREATE TABLE devices (
          id TEXT PRIMARY KEY,
          owner_user_id TEXT NOT NULL REFERENCES users(id),
          hostname TEXT NOT NULL,
          os TEXT NOT NULL,
          os_version TEXT,
          arch TEXT,
          agent_version TEXT,
          reported_users TEXT NOT NULL DEFAULT '[]',
          enrolled_at TEXT NOT NULL,
          last_seen_at TEXT,
          revoked_at TEXT
        ) STRICT`);
        // One token per enrollment (device + OS user); only its hash is kept.
        db.exec(`CREATE TABLE device_tokens (
          id TEXT PRIMARY KEY,
          token_hash TEXT NOT NULL UNIQUE,
          device_id TEXT NOT NULL REFERENCES devices(id),
          os_user TEXT NOT NULL,
          user_id TEXT NOT NULL REFERENCES users(id),
          key_id TEXT NOT NULL REFERENCES virtual_keys(id),
          created_at TEXT NOT NULL,
          revoked_at TEXT
        ) STRICT`);
        db.exec('CREATE INDEX device_tokens_device ON device_tokens (device_id)');
        db.exec('CREATE INDEX device_tokens_key ON device_tokens (key_id)');
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
        // Which devices report (inventory) or asked for (request) an item: the fleet count.
        db.exec(`CREATE TABLE catalog_sightings (
          kind TEXT NOT NULL,
          item_id TEXT NOT NULL,
          device_id TEXT NOT NULL REFERENCES devices(id),
          source TEXT NOT NULL CHECK (source IN ('inventory', 'request')),
          last_seen_at TEXT NOT NULL,
          PRIMARY KEY (kind, item_id, device_id, source)
        ) STRICT`);
        db.exec('CREATE INDEX catalog_sightings_device ON catalog_sightings (device_id, kind, source)');
        db.exec(`CREATE TABLE settings (key TEXT PRIMARY KEY, value_json TEXT NOT NULL, updated_at TEXT NOT NULL) STRICT`);
        // The highest outbox seq stored per device and stream: what `ack` carries.
        db.exec(`CREATE TABLE outbox_streams (
          device_id TEXT NOT NULL REFERENCES devices(id),
          stream TEXT NOT NULL,
          high_seq INTEGER NOT NULL,
          updated_at TEXT NOT NULL,
          PRIMARY KEY (device_id, stream)
        ) STRICT`);
        // Agent events carry (device, stream, seq), unique; gateway events (inference audit) have no seq.
        db.exec(`CREATE TABLE events (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          source TEXT NOT NULL CHECK (source IN ('agent', 'gateway')),
          device_id TEXT,
          stream TEXT,
          seq INTEGER,
          type TEXT NOT NULL,
          at TEXT NOT NULL,
          app TEXT,
          os_user TEXT,
          user_id TEXT,
          attrs TEXT NOT NULL,
          received_at TEXT NOT NULL,
          UNIQUE (device_id, stream, seq)
        ) STRICT`);
        db.exec('CREATE INDEX events_device ON events (device_id, id)');
        db.exec('CREATE INDEX events_app ON events (app, id)');
        db.exec('CREATE INDEX events_type ON events (type, id)');
        db.exec(`CREATE TABLE inventory_apps (
          device_id TEXT NOT NULL REFERENCES devices(id),
          app_id TEXT NOT NULL,
          os_user TEXT NOT NULL,
          display_name TEXT,
          version TEXT,
          path TEXT,
          last_seen_at TEXT,
          PRIMARY KEY (device_id, app_id, os_user)
        ) STRICT`);
        db.exec(`CREATE TABLE inventory_mcp (
          device_id TEXT NOT NULL REFERENCES devices(id),
          fingerprint TEXT NOT NULL,
          config_path TEXT NOT NULL,
          os_user TEXT NOT NULL,
          app TEXT NOT NULL,
          scope TEXT NOT NULL,
          name TEXT NOT NULL,
          transport TEXT NOT NULL,
          command TEXT,
          args TEXT,
          url TEXT,
          env_keys TEXT NOT NULL,
          header_keys TEXT NOT NULL,
          PRIMARY KEY (device_id, fingerprint, config_path, os_user)
        ) STRICT`);
        db.exec(`CREATE TABLE inventory_mcp_errors (
          device_id TEXT NOT NULL REFERENCES devices(id),
          app TEXT NOT NULL,
          config_path TEXT NOT NULL,
          os_user TEXT NOT NULL,
          error TEXT NOT NULL
        ) STRICT`);
        db.exec('CREATE INDEX inventory_mcp_errors_device ON inventory_mcp_errors (device_id)');
        // The gateway-held interception CA; the database file is 0600 like the rest of the data dir.
        db.exec(`CREATE TABLE ca (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          cert_pem TEXT NOT NULL,
          key_pem TEXT NOT NULL,
          source TEXT NOT NULL CHECK (source IN ('generated', 'uploaded')),
          created_at TEXT NOT NULL
        ) STRICT`);
      },
    },
    {
      version: 2,
      name: 'events by user',
      up: (db) => {
        // Agent events now carry the gateway user of the OS user that signed in on the device.
        db.exec('CREATE INDEX events_user ON events (user_id, id)');
        db.exec(`UPDATE events SET user_id = (
          SELECT t.user_id FROM device_tokens t WHERE t.device_id = events.device_id AND t.os_user = events.os_user ORDER BY t.created_at DESC LIMIT 1
        ) WHERE source = 'agent' AND user_id IS NULL AND os_user IS NOT NULL`);
      },
    },
  ],
};
