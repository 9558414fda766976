// The policy room's tables: the last good snapshot (so enforcement survives restarts and a dead
// gateway), approval requests already sent, and the apps seen on this machine.
import type { MigrationSet } from '../store/index.ts';

export const POLICY_MIGRATIONS: MigrationSet = {
  component: 'policy',
  migrations: [
    {
      version: 1,
      name: 'policy snapshot, approval requests, seen apps',
      up: (db) => {
        db.exec(`CREATE TABLE policy_state (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          version INTEGER NOT NULL CHECK (version >= 1),
          issued_at TEXT NOT NULL,
          settings_json TEXT NOT NULL,
          fail_mode TEXT NOT NULL CHECK (fail_mode IN ('open', 'closed')),
          applied_at TEXT NOT NULL
        ) STRICT`);
        // One row per catalog entry in snapshot order (position), so the snapshot is rebuilt exactly.
        db.exec(`CREATE TABLE policy_items (
          kind TEXT NOT NULL CHECK (kind IN ('app', 'mcp')),
          position INTEGER NOT NULL,
          item_key TEXT NOT NULL,
          name TEXT,
          status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
          users_json TEXT,
          PRIMARY KEY (kind, position)
        ) STRICT`);
        db.exec('CREATE INDEX policy_items_by_key ON policy_items (kind, item_key)');
        db.exec(`CREATE TABLE approval_requests (
          kind TEXT NOT NULL CHECK (kind IN ('app', 'mcp')),
          item_key TEXT NOT NULL,
          display_name TEXT NOT NULL,
          os_user TEXT,
          details_json TEXT,
          first_seen_at TEXT NOT NULL,
          last_seen_at TEXT NOT NULL,
          last_reported_at TEXT,
          report_count INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (kind, item_key)
        ) STRICT`);
        db.exec(`CREATE TABLE seen_apps (
          app_id TEXT PRIMARY KEY,
          display_name TEXT NOT NULL,
          kind TEXT NOT NULL,
          subject TEXT,
          first_seen_at TEXT NOT NULL,
          last_used_at TEXT NOT NULL,
          last_os_user TEXT,
          last_verdict TEXT NOT NULL CHECK (last_verdict IN ('allow', 'block')),
          last_status TEXT NOT NULL,
          allowed_count INTEGER NOT NULL DEFAULT 0,
          blocked_count INTEGER NOT NULL DEFAULT 0
        ) STRICT`);
      },
    },
  ],
};
