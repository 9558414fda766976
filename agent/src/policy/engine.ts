// The policy engine: holds the last good snapshot in memory and in SQLite, replaces it atomically
// (validate first, then one transaction, then swap), answers app and MCP server decisions.
import { EventEmitter } from 'node:events';
import type { Database } from '../store/index.ts';
import type { Logger } from '../lib/logger.ts';
import { silentLogger } from '../lib/logger.ts';
import { decide, indexSnapshot, type PolicyIndex, type Subject } from './evaluate.ts';
import type { FailMode, PolicyDecision, PolicySettings, PolicySnapshot, RoutingMode } from './schema.ts';
import { PolicySnapshotSchema } from './schema.ts';

/** A snapshot that failed validation; the last good policy stays in force. */
export class PolicyRejectedError extends Error {
  readonly issues: string[];
  constructor(issues: string[]) {
    super(`policy snapshot rejected, keeping the last good policy: ${issues.slice(0, 5).join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}`);
    this.name = 'PolicyRejectedError';
    this.issues = issues;
  }
}

/** A snapshot older than the one held (a replayed or out-of-order message). */
export class StalePolicyError extends Error {
  readonly version: number;
  readonly heldVersion: number;
  constructor(version: number, heldVersion: number) {
    super(`policy snapshot version ${version} is older than the version ${heldVersion} already applied; ignoring it`);
    this.name = 'StalePolicyError';
    this.version = version;
    this.heldVersion = heldVersion;
  }
}

export interface PolicyChange {
  version: number;
  previousVersion: number | null;
  snapshot: PolicySnapshot;
}

export interface ApplyResult {
  /** False when the snapshot equals the one held (nothing written, no change event). */
  changed: boolean;
  version: number;
  previousVersion: number | null;
}

/**
 * What became of a snapshot handed to the policy room, as a value: the sync channel asks this instead
 * of keeping its own version and stale checks (this engine is their one owner).
 */
export type SnapshotOutcome =
  | { outcome: 'applied'; version: number; previousVersion: number | null }
  /** The same version and content are already in force: nothing written. */
  | { outcome: 'unchanged'; version: number }
  /** Older than the version in force (a replayed or out-of-order message): ignored. */
  | { outcome: 'stale'; version: number; heldVersion: number }
  /** Fails validation: the last good policy stays. */
  | { outcome: 'rejected'; error: string };

export interface PolicyEngineOptions {
  /** Store.db of a store opened with POLICY_MIGRATIONS. */
  db: Database;
  logger?: Logger;
  /**
   * fail_mode before any policy was ever received (from managed config). Once a snapshot has been
   * applied, the organization's own fail_mode is remembered and used instead.
   */
  failMode?: FailMode;
  clock?: () => Date;
}

export interface AppQuery extends Subject {
  appId: string;
}

type Events = { change: [PolicyChange] };

interface StateRow {
  version: number;
  issued_at: string;
  settings_json: string;
  fail_mode: string;
}

interface ItemRow {
  kind: 'app' | 'mcp';
  item_key: string;
  name: string | null;
  status: string;
  users_json: string | null;
}

function issuesOf(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string[] {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(snapshot)'}: ${i.message}`);
}

export class PolicyEngine extends EventEmitter<Events> {
  readonly #db: Database;
  readonly #logger: Logger;
  readonly #clock: () => Date;
  readonly #configuredFailMode: FailMode;
  #rememberedFailMode: FailMode | undefined;
  #index: PolicyIndex | undefined;

  constructor(options: PolicyEngineOptions) {
    super();
    this.#db = options.db;
    this.#logger = options.logger ?? silentLogger();
    this.#clock = options.clock ?? (() => new Date());
    this.#configuredFailMode = options.failMode ?? 'open';
  }

  /** The snapshot in force, or undefined when none is (fail_mode decides). */
  current(): PolicySnapshot | undefined {
    return this.#index?.snapshot;
  }

  version(): number | null {
    return this.#index?.snapshot.version ?? null;
  }

  settings(): PolicySettings | undefined {
    return this.#index?.snapshot.settings;
  }

  /** The fail_mode in force when no valid policy is held. */
  failMode(): FailMode {
    return this.#rememberedFailMode ?? this.#configuredFailMode;
  }

  /**
   * What a request of an OS user who has not signed in gets (the organization's `unattributed`
   * setting): `block` (the default, and without a policy) or `device` (forwarded under the device alone).
   */
  unattributed(): 'block' | 'device' {
    const value = (this.#index?.snapshot.settings as { unattributed?: unknown } | undefined)?.unattributed;
    return value === 'device' ? 'device' : 'block';
  }

  /** How an app's inference reaches the gateway; apps not listed use `gateway`. */
  routingFor(appId: string): RoutingMode {
    return this.#index?.snapshot.settings.routing[appId] ?? 'gateway';
  }

  decideApp(query: AppQuery): PolicyDecision {
    return decide(this.#index, 'apps', query.appId, query, this.failMode());
  }

  decideMcpServer(fingerprint: string, osUser?: string, userId?: string): PolicyDecision {
    return decide(this.#index, 'mcpServers', fingerprint, { osUser, userId }, this.failMode());
  }

  /**
   * Reads the cached snapshot from the store and puts it in force. A cached snapshot that no longer
   * validates (edited by hand, written by a newer build) is not used: fail_mode decides until the
   * gateway sends a good one.
   */
  loadCachedPolicy(): PolicySnapshot | undefined {
    const state = this.#db.prepare<[], StateRow>('SELECT version, issued_at, settings_json, fail_mode FROM policy_state WHERE id = 1').get();
    if (!state) return undefined;
    if (state.fail_mode === 'open' || state.fail_mode === 'closed') this.#rememberedFailMode = state.fail_mode;
    const rows = this.#db.prepare<[], ItemRow>('SELECT kind, item_key, name, status, users_json FROM policy_items ORDER BY kind, position').all();
    let candidate: unknown;
    try {
      candidate = {
        version: state.version,
        issued_at: state.issued_at,
        settings: JSON.parse(state.settings_json) as unknown,
        apps: rows
          .filter((r) => r.kind === 'app')
          .map((r) => ({ id: r.item_key, ...(r.name !== null ? { display_name: r.name } : {}), status: r.status, ...(r.users_json !== null ? { users: JSON.parse(r.users_json) as unknown } : {}) })),
        mcp_servers: rows
          .filter((r) => r.kind === 'mcp')
          .map((r) => ({ fingerprint: r.item_key, ...(r.name !== null ? { name: r.name } : {}), status: r.status, ...(r.users_json !== null ? { users: JSON.parse(r.users_json) as unknown } : {}) })),
      };
    } catch (err) {
      this.#logger.error({ err }, 'cached policy is unreadable; fail_mode applies until the gateway sends a policy');
      return undefined;
    }
    const parsed = PolicySnapshotSchema.safeParse(candidate);
    if (!parsed.success) {
      this.#logger.error({ issues: issuesOf(parsed.error).slice(0, 10) }, 'cached policy no longer validates; fail_mode applies until the gateway sends a policy');
      return undefined;
    }
    this.#index = indexSnapshot(parsed.data);
    this.#logger.info({ policy_version: parsed.data.version }, 'cached policy loaded');
    return parsed.data;
  }

  /**
   * Validates a snapshot, writes it in one transaction and puts it in force. Throws
   * PolicyRejectedError (invalid) or StalePolicyError (older than held); the last good policy stays.
   */
  applyPolicySnapshot(input: unknown): ApplyResult {
    const parsed = PolicySnapshotSchema.safeParse(input);
    if (!parsed.success) throw new PolicyRejectedError(issuesOf(parsed.error));
    const snapshot = parsed.data;
    const previousVersion = this.version();
    if (previousVersion !== null && snapshot.version < previousVersion) throw new StalePolicyError(snapshot.version, previousVersion);
    if (previousVersion === snapshot.version && JSON.stringify(this.#index?.snapshot) === JSON.stringify(snapshot)) {
      return { changed: false, version: snapshot.version, previousVersion };
    }

    const insertItem = this.#db.prepare('INSERT INTO policy_items (kind, position, item_key, name, status, users_json) VALUES (?, ?, ?, ?, ?, ?)');
    const write = this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM policy_items').run();
      this.#db
        .prepare(
          `INSERT INTO policy_state (id, version, issued_at, settings_json, fail_mode, applied_at) VALUES (1, ?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET version = excluded.version, issued_at = excluded.issued_at,
             settings_json = excluded.settings_json, fail_mode = excluded.fail_mode, applied_at = excluded.applied_at`,
        )
        .run(snapshot.version, snapshot.issued_at, JSON.stringify(snapshot.settings), snapshot.settings.fail_mode, this.#clock().toISOString());
      snapshot.apps.forEach((a, i) => insertItem.run('app', i, a.id, a.display_name ?? null, a.status, a.users ? JSON.stringify(a.users) : null));
      snapshot.mcp_servers.forEach((m, i) => insertItem.run('mcp', i, m.fingerprint, m.name ?? null, m.status, m.users ? JSON.stringify(m.users) : null));
    });
    write.immediate();

    this.#index = indexSnapshot(snapshot);
    this.#rememberedFailMode = snapshot.settings.fail_mode;
    this.#logger.info({ policy_version: snapshot.version, previous_version: previousVersion, apps: snapshot.apps.length, mcp_servers: snapshot.mcp_servers.length }, 'policy applied');
    this.emit('change', { version: snapshot.version, previousVersion, snapshot });
    return { changed: true, version: snapshot.version, previousVersion };
  }

  /** applyPolicySnapshot for the sync channel: the same checks, the outcome as a value instead of a throw. */
  offerPolicySnapshot(input: unknown): SnapshotOutcome {
    try {
      const result = this.applyPolicySnapshot(input);
      return result.changed
        ? { outcome: 'applied', version: result.version, previousVersion: result.previousVersion }
        : { outcome: 'unchanged', version: result.version };
    } catch (err) {
      if (err instanceof StalePolicyError) return { outcome: 'stale', version: err.version, heldVersion: err.heldVersion };
      if (err instanceof PolicyRejectedError) return { outcome: 'rejected', error: err.message };
      throw err;
    }
  }
}
