// The MCP room's tables: the device redaction key, the last good servers per file, the original
// bytes of user files Heimdall edited, and the managed policy files it wrote. The last good servers
// are kept redacted (storedForm): enough to report them and enforce what can be enforced without a
// secret, never a secret itself.
import type { Database } from '../store/index.ts';
import type { MigrationSet } from '../store/index.ts';
import { carriesSecret, fingerprintServer, LocalFingerprints, serverIdentity } from './fingerprint.ts';
import { canonicalUrl, newDeviceKey, Redactor } from './redact.ts';
import type { McpApp, NormalizedServer } from './types.ts';

function readOrCreateKey(db: Database): Buffer {
  const row = db.prepare<[], { key: Buffer }>('SELECT key FROM mcp_device_key WHERE id = 1').get();
  if (row) return row.key;
  db.prepare('INSERT OR IGNORE INTO mcp_device_key (id, key, created_at) VALUES (1, ?, ?)').run(newDeviceKey(), new Date().toISOString());
  return db.prepare<[], { key: Buffer }>('SELECT key FROM mcp_device_key WHERE id = 1').get()!.key;
}

/**
 * A server as the store keeps it: the report's redacted values (env and header values, secret
 * arguments, URL credentials as `hmac:`), plus both fingerprints so it is still recognised after a
 * restart. Name, transport, enabled, project and cwd stay as they are: enforcement needs them.
 */
export function storedForm(server: NormalizedServer, redactor: Redactor, local: LocalFingerprints): NormalizedServer {
  if (server.stored) return server;
  const out: NormalizedServer = {
    name: server.name,
    transport: server.transport,
    enabled: server.enabled,
    stored: { fingerprint: fingerprintServer(server), localFingerprint: local.identity(serverIdentity(server)), carriesSecret: carriesSecret(serverIdentity(server)) },
  };
  if (server.command !== undefined) out.command = redactor.text(server.command);
  if (server.args !== undefined) out.args = redactor.args(server.args);
  if (server.url !== undefined) out.url = redactor.url(canonicalUrl(server.url));
  if (server.env !== undefined) out.env = Object.fromEntries(redactor.pairs(server.env).map((p) => [p.name, p.value]));
  if (server.headers !== undefined) out.headers = Object.fromEntries(redactor.pairs(server.headers).map((p) => [p.name, p.value]));
  if (server.cwd !== undefined) out.cwd = server.cwd;
  if (server.projectPath !== undefined) out.projectPath = server.projectPath;
  return out;
}

export const MCP_MIGRATIONS: MigrationSet = {
  component: 'mcp',
  migrations: [
    {
      version: 1,
      name: 'device key, last good servers per file, user-file edits, managed policy files',
      up: (db) => {
        db.exec(`
          CREATE TABLE mcp_device_key (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            key BLOB NOT NULL,
            created_at TEXT NOT NULL
          ) STRICT;
          CREATE TABLE mcp_file_state (
            path TEXT PRIMARY KEY,
            app TEXT NOT NULL,
            os_user TEXT NOT NULL,
            servers_json TEXT NOT NULL,
            updated_at TEXT NOT NULL
          ) STRICT;
          CREATE TABLE mcp_file_edits (
            path TEXT PRIMARY KEY,
            app TEXT NOT NULL,
            os_user TEXT NOT NULL,
            original BLOB NOT NULL,
            written_sha256 TEXT NOT NULL,
            touched_json TEXT NOT NULL,
            updated_at TEXT NOT NULL
          ) STRICT;
          CREATE TABLE mcp_policy_files (
            path TEXT PRIMARY KEY,
            app TEXT NOT NULL,
            existed_before INTEGER NOT NULL,
            written_sha256 TEXT NOT NULL,
            contribution_json TEXT NOT NULL,
            updated_at TEXT NOT NULL
          ) STRICT;
        `);
      },
    },
    {
      version: 2,
      name: 'last good servers kept redacted: no env, header, argument or URL secret at rest',
      up: (db) => {
        // Freed pages are zeroed, so the old rows' bytes do not linger in the file.
        db.pragma('secure_delete = ON');
        const key = readOrCreateKey(db);
        const redactor = new Redactor(key);
        const local = new LocalFingerprints(key);
        const rows = db.prepare<[], { path: string; servers_json: string }>('SELECT path, servers_json FROM mcp_file_state').all();
        const update = db.prepare('UPDATE mcp_file_state SET servers_json = ? WHERE path = ?');
        for (const row of rows) {
          let servers: NormalizedServer[];
          try {
            servers = JSON.parse(row.servers_json) as NormalizedServer[];
          } catch {
            servers = [];
          }
          update.run(JSON.stringify(servers.map((s) => storedForm(s, redactor, local))), row.path);
        }
      },
    },
  ],
};

export interface FileEditRecord {
  path: string;
  app: McpApp;
  osUser: string;
  original: Buffer;
  writtenSha256: string;
  /** Per entry name, what Heimdall changed: the flag's value before (undefined = absent). */
  touched: Record<string, { before?: unknown }>;
}

export interface PolicyFileRecord {
  path: string;
  app: McpApp;
  existedBefore: boolean;
  writtenSha256: string;
  /** What Heimdall put in the file (so a later write can take it out again and keep the rest). */
  contribution: unknown;
}

/** Typed access to the MCP tables. */
export class McpTables {
  readonly #db: Database;

  readonly #redactor: Redactor;
  readonly #local: LocalFingerprints;

  constructor(db: Database) {
    this.#db = db;
    // Rows rewritten without their secrets must not leave the old bytes behind in free pages, and a
    // migration that just rewrote them must not leave the old pages in the WAL or the main file.
    this.#db.pragma('secure_delete = ON');
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    const key = this.deviceKey();
    this.#redactor = new Redactor(key);
    this.#local = new LocalFingerprints(key);
  }

  /** The device's redaction key, created on first use; the store file is 0600 in a 0700 folder. */
  deviceKey(): Buffer {
    return readOrCreateKey(this.#db);
  }

  /** Local fingerprints under the device key. */
  localFingerprints(): LocalFingerprints {
    return this.#local;
  }

  lastGood(file: string): NormalizedServer[] | undefined {
    const row = this.#db.prepare<[string], { servers_json: string }>('SELECT servers_json FROM mcp_file_state WHERE path = ?').get(file);
    return row ? (JSON.parse(row.servers_json) as NormalizedServer[]) : undefined;
  }

  saveLastGood(file: string, app: McpApp, osUser: string, servers: NormalizedServer[]): void {
    this.#db
      .prepare(
        `INSERT INTO mcp_file_state (path, app, os_user, servers_json, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET servers_json = excluded.servers_json, updated_at = excluded.updated_at`,
      )
      .run(file, app, osUser, JSON.stringify(servers.map((s) => storedForm(s, this.#redactor, this.#local))), new Date().toISOString());
  }

  forgetFile(file: string): void {
    this.#db.prepare('DELETE FROM mcp_file_state WHERE path = ?').run(file);
  }

  fileEdit(file: string): FileEditRecord | undefined {
    const row = this.#db
      .prepare<[string], { path: string; app: string; os_user: string; original: Buffer; written_sha256: string; touched_json: string }>(
        'SELECT path, app, os_user, original, written_sha256, touched_json FROM mcp_file_edits WHERE path = ?',
      )
      .get(file);
    if (!row) return undefined;
    return {
      path: row.path,
      app: row.app,
      osUser: row.os_user,
      original: row.original,
      writtenSha256: row.written_sha256,
      touched: JSON.parse(row.touched_json) as FileEditRecord['touched'],
    };
  }

  saveFileEdit(r: FileEditRecord): void {
    this.#db
      .prepare(
        `INSERT INTO mcp_file_edits (path, app, os_user, original, written_sha256, touched_json, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET original = excluded.original, written_sha256 = excluded.written_sha256,
           touched_json = excluded.touched_json, updated_at = excluded.updated_at`,
      )
      .run(r.path, r.app, r.osUser, r.original, r.writtenSha256, JSON.stringify(r.touched), new Date().toISOString());
  }

  deleteFileEdit(file: string): void {
    this.#db.prepare('DELETE FROM mcp_file_edits WHERE path = ?').run(file);
  }

  policyFile(file: string): PolicyFileRecord | undefined {
    const row = this.#db
      .prepare<[string], { path: string; app: string; existed_before: number; written_sha256: string; contribution_json: string }>(
        'SELECT path, app, existed_before, written_sha256, contribution_json FROM mcp_policy_files WHERE path = ?',
      )
      .get(file);
    if (!row) return undefined;
    return {
      path: row.path,
      app: row.app,
      existedBefore: row.existed_before === 1,
      writtenSha256: row.written_sha256,
      contribution: JSON.parse(row.contribution_json) as unknown,
    };
  }

  savePolicyFile(r: PolicyFileRecord): void {
    this.#db
      .prepare(
        `INSERT INTO mcp_policy_files (path, app, existed_before, written_sha256, contribution_json, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(path) DO UPDATE SET written_sha256 = excluded.written_sha256, contribution_json = excluded.contribution_json,
           updated_at = excluded.updated_at`,
      )
      .run(r.path, r.app, r.existedBefore ? 1 : 0, r.writtenSha256, JSON.stringify(r.contribution), new Date().toISOString());
  }

  /** Every policy file Heimdall wrote for one app. */
  policyFiles(app: McpApp): PolicyFileRecord[] {
    return this.#db
      .prepare<[string], { path: string }>('SELECT path FROM mcp_policy_files WHERE app = ? ORDER BY path')
      .all(app)
      .map((r) => this.policyFile(r.path)!);
  }

  deletePolicyFile(file: string): void {
    this.#db.prepare('DELETE FROM mcp_policy_files WHERE path = ?').run(file);
  }
}
