// The MCP room's engine: plans which files every app adapter names for every local user, watches
// them, schedules re-reads (debounced per file, plus a periodic rescan on the injected clock), and
// reports the redacted inventory when it changes. Reading is the inventory's, carrying out decisions
// the enforcer's; every per-app fact is in the adapters (apps/), which the governor takes as a list.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../lib/logger.ts';
import type { Store } from '../store/index.ts';
import { UserFsPool, type UserFs } from '../userfs/index.ts';
import type { McpAppAdapter } from './app-adapter.ts';
import { MCP_APP_ADAPTERS } from './apps/index.ts';
import { systemClock, type Clock, type ClockTimer } from '../../../lib/index.ts';
import { Enforcer, serverKey } from './enforce.ts';
import { Inventory } from './inventory.ts';
import { buildPlan, type Plan } from './plan.ts';
import { DEFAULT_SIZE_LIMIT } from './read-config.ts';
import { Redactor } from './redact.ts';
import { McpTables } from './schema.ts';
import { listLocalUsers } from './users.ts';
import type { DecideMcpServer, McpAuditEvent, McpDecision, McpDiscovery, McpInventory, McpListRow, OsUser, Platform } from './types.ts';

export interface McpGovernorOptions {
  store: Store;
  logger: Logger;
  /** The policy room's `decideMcpServer(fingerprint, osUser)`. */
  decide: DecideMcpServer;
  /** Called with the whole redacted inventory whenever it changes (the sync room sends it as `inventory.mcp`). */
  report: (inventory: McpInventory) => void;
  /** Called for every enforcement action. */
  audit: (event: McpAuditEvent) => void;
  /** `root`: every local user's home; `current-user`: only this process's user (development, --state-dir). */
  mode: 'root' | 'current-user';
  /** The apps governed; the built-in list (apps/index.ts) unless a test brings its own. */
  apps?: readonly McpAppAdapter[];
  /** Debounce, periodic rescans and timestamps run on it; tests advance a manual one. */
  clock?: Clock;
  platform?: Platform;
  /** Replaces user enumeration (tests, and callers that already know the users). */
  users?: readonly OsUser[];
  passwdFile?: string;
  /** Prefix of every managed path (`/` on Unix, `C:\` on Windows); tests pass a temporary folder. */
  managedRoot?: string;
  /** Files larger than this are streamed (JSON with known keys) or refused, and never written. */
  sizeLimit?: number;
  debounceMs?: number;
  /** Periodic full rescan, a guard against a missed event (ms; 0 disables). */
  rescanIntervalMs?: number;
  watch?: boolean;
  enforce?: boolean;
  /**
   * Who does the file work under homes: a helper per user that has become that user (userfs). The
   * governor makes one and ends its helpers on stop() unless the caller brings its own.
   */
  userFs?: UserFsPool;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export class McpGovernor {
  readonly #o: Required<Omit<McpGovernorOptions, 'users' | 'passwdFile' | 'userFs'>> & Pick<McpGovernorOptions, 'users' | 'passwdFile'>;
  readonly #userFs: UserFsPool;
  readonly #ownsUserFs: boolean;
  readonly #inventory: Inventory;
  readonly #enforcer: Enforcer;
  #plan: Plan | undefined;
  #watcher: FSWatcher | undefined;
  #watched = new Set<string>();
  readonly #timers = new Map<string, ClockTimer>();
  readonly #replanPaths = new Set<string>();
  #rescanTimer: ClockTimer | undefined;
  #chain: Promise<void> = Promise.resolve();
  #lastReported = '';
  #stopped = false;
  #discovery: McpDiscovery = { state: 'in_progress', started_at: null, finished_at: null, error: null };

  constructor(options: McpGovernorOptions) {
    const platform = options.platform ?? (process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux');
    this.#o = {
      ...options,
      apps: options.apps ?? MCP_APP_ADAPTERS,
      clock: options.clock ?? systemClock,
      platform,
      managedRoot: options.managedRoot ?? (platform === 'win32' ? 'C:\\' : '/'),
      sizeLimit: options.sizeLimit ?? DEFAULT_SIZE_LIMIT,
      debounceMs: options.debounceMs ?? 150,
      rescanIntervalMs: options.rescanIntervalMs ?? 15 * 60_000,
      watch: options.watch ?? true,
      enforce: options.enforce ?? true,
    };
    this.#ownsUserFs = options.userFs === undefined;
    this.#userFs = options.userFs ?? new UserFsPool({ clock: this.#o.clock });
    const fsFor = (user: OsUser): UserFs => this.#userFs.forUser(user);
    const tables = new McpTables(options.store.db);
    this.#inventory = new Inventory({ tables, redactor: new Redactor(tables.deviceKey()), logger: this.#o.logger, sizeLimit: this.#o.sizeLimit, fsFor });
    this.#enforcer = new Enforcer({
      tables,
      inventory: this.#inventory,
      logger: this.#o.logger,
      clock: this.#o.clock,
      decide: (fingerprint, osUser) => this.#decide(fingerprint, osUser),
      audit: this.#o.audit,
      platform,
      managedRoot: this.#o.managedRoot,
      sizeLimit: this.#o.sizeLimit,
      fsFor,
    });
  }

  /** Full inventory, enforcement, then watching. */
  async start(): Promise<void> {
    this.#stopped = false;
    const nowIso = (): string => new Date(this.#o.clock.now()).toISOString();
    this.#discovery = { state: 'in_progress', started_at: nowIso(), finished_at: null, error: null };
    try {
      await this.rescan();
    } catch (err) {
      this.#discovery = { ...this.#discovery, state: 'failed', finished_at: nowIso(), error: (err as Error).message };
      throw err;
    }
    this.#discovery = { ...this.#discovery, state: 'done', finished_at: nowIso() };
    // The daemon starts discovery in the background; it may have been told to stop meanwhile.
    if (this.#stopped) return;
    if (this.#o.watch) await this.#startWatcher();
    this.#scheduleRescan();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#o.clock.clearTimeout(this.#rescanTimer);
    this.#rescanTimer = undefined;
    for (const t of this.#timers.values()) this.#o.clock.clearTimeout(t);
    this.#timers.clear();
    await this.#watcher?.close();
    this.#watcher = undefined;
    this.#watched.clear();
    await this.#chain;
    if (this.#ownsUserFs) await this.#userFs.close();
  }

  /** Re-plans (users, projects), re-reads every file, enforces and reports. */
  rescan(): Promise<void> {
    return this.#serial(async () => {
      await this.#replan();
      for (const target of this.#plan!.targets.values()) await this.#inventory.read(target);
      await this.#afterChange();
    });
  }

  /** The policy changed: decisions are asked again, enforcement and report follow. */
  applyPolicy(): Promise<void> {
    return this.#serial(async () => {
      // Before the first discovery nothing is known: enforcing (or reporting) an empty inventory would
      // undo the blocks in force. The discovery applies the policy of its time when it runs.
      if (!this.#plan) return;
      await this.#afterChange();
    });
  }

  /** Whether the first inventory since start() has finished. */
  discovery(): McpDiscovery {
    return this.#discovery;
  }

  /** Resolves once every queued read, enforcement and report has finished (tests, after advancing the clock). */
  async idle(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.#chain;
      await seen;
    } while (seen !== this.#chain);
  }

  /** The redacted inventory as last computed. */
  inventory(): McpInventory {
    return this.#inventory.report(new Date(this.#o.clock.now()).toISOString());
  }

  /** Rows for `heimdall mcp`: each server with its decision and how it is enforced. */
  list(): McpListRow[] {
    return this.inventory().servers.map((s) => {
      const key = serverKey(s.configPath, s.name, s.projectPath);
      const e = this.#enforcer.howEnforced(key);
      const row: McpListRow = { ...s, decision: this.#enforcer.decision(key, s.fingerprint, s.osUser), enforcedHow: e.how };
      if (e.detail !== undefined) row.enforcedDetail = e.detail;
      return row;
    });
  }

  /** Policy artifacts Heimdall cannot apply as a file on this OS (VS Code registry / managed prefs). */
  policyArtifacts(): ReadonlyMap<string, string> {
    return this.#enforcer.artifacts();
  }

  /** Folders under watch (for status and the benchmark). */
  watchedDirs(): string[] {
    return [...this.#watched].sort();
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn);
    this.#chain = next.catch((err: unknown) => this.#o.logger.error({ err }, 'mcp task failed'));
    return next;
  }

  /** A periodic full rescan, each one scheduled when the previous is due (like an interval). */
  #scheduleRescan(): void {
    if (this.#o.rescanIntervalMs <= 0 || this.#stopped) return;
    this.#rescanTimer = this.#o.clock.setTimeout(() => {
      this.#scheduleRescan();
      void this.rescan().catch((err: unknown) => this.#o.logger.error({ err }, 'mcp periodic rescan failed'));
    }, this.#o.rescanIntervalMs);
    this.#rescanTimer.unref();
  }

  #decide(fingerprint: string, osUser: string): McpDecision {
    try {
      return this.#o.decide(fingerprint, osUser);
    } catch (err) {
      this.#o.logger.error({ err, fingerprint }, 'mcp decision failed; treating the server as allowed until the policy answers');
      return { verdict: 'allow', status: 'unknown' };
    }
  }

  async #users(): Promise<OsUser[]> {
    if (this.#o.users) return [...this.#o.users];
    return listLocalUsers({ platform: this.#o.platform, allUsers: this.#o.mode === 'root', ...(this.#o.passwdFile ? { passwdFile: this.#o.passwdFile } : {}) });
  }

  async #replan(): Promise<void> {
    this.#plan = await buildPlan({ apps: this.#o.apps, platform: this.#o.platform, users: await this.#users(), managedRoot: this.#o.managedRoot, sizeLimit: this.#o.sizeLimit, fsFor: (u) => this.#userFs.forUser(u) });
    this.#inventory.keepOnly(this.#plan.targets);
    if (this.#watcher) await this.#syncWatches();
  }

  async #afterChange(): Promise<void> {
    const ownerFilesBefore = [...this.#enforcer.ownerPolicyFiles()].sort().join('\0');
    if (this.#o.enforce) await this.#enforcer.enforce(this.#o.apps);
    // A block now lives in (or left) an owner's settings file: watch its folder so an undone block is re-applied.
    if ([...this.#enforcer.ownerPolicyFiles()].sort().join('\0') !== ownerFilesBefore) {
      await this.#syncWatches();
      // The watch of a file Heimdall just replaced by rename is re-armed asynchronously, and an edit in
      // that window is not reported: look at each owner file once more after the debounce.
      if (this.#watcher) for (const file of this.#enforcer.ownerPolicyFiles()) this.#onFsEvent(file);
    }
    const inventory = this.inventory();
    // Reported only when something other than the timestamp changed.
    const fingerprintOfReport = JSON.stringify({ ...inventory, generatedAt: '' });
    if (fingerprintOfReport !== this.#lastReported) {
      this.#lastReported = fingerprintOfReport;
      this.#o.report(inventory);
    }
  }

  // ---- watching ----

  /** Resolves once the OS watches are in place, so a change made right after start() is seen. */
  async #startWatcher(): Promise<void> {
    await this.#chain;
    const dirs = await this.#wantedWatches();
    const watcher = watch([...dirs], { ignoreInitial: true, usePolling: false, depth: 0, persistent: true, followSymlinks: false });
    this.#watcher = watcher;
    this.#watched = dirs;
    const onEvent = (file: string): void => this.#onFsEvent(path.resolve(file));
    watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent).on('addDir', onEvent).on('unlinkDir', onEvent);
    watcher.on('error', (err) => this.#o.logger.warn({ err }, 'mcp watcher error'));
    // chokidar never says 'ready' for an empty list (a user whose home does not exist): nothing to wait for.
    if (dirs.size > 0) await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  /** Watches every folder of interest that exists, or its nearest existing ancestor (missing folders appear later). */
  async #syncWatches(): Promise<void> {
    if (!this.#watcher || !this.#plan) return;
    const want = await this.#wantedWatches();
    const add = [...want].filter((d) => !this.#watched.has(d));
    const remove = [...this.#watched].filter((d) => !want.has(d));
    if (add.length > 0) {
      this.#watcher.add(add);
      await watchesInPlace(this.#watcher, add);
    }
    if (remove.length > 0) this.#watcher.unwatch(remove);
    this.#watched = want;
  }

  async #wantedWatches(): Promise<Set<string>> {
    const want = new Set<string>();
    if (!this.#plan) return want;
    const ownerDirs = [...this.#enforcer.ownerPolicyFiles()].map((f): [string, string] => [path.dirname(f), path.dirname(f)]);
    for (const [dir, floor] of [...this.#plan.watchDirs, ...ownerDirs]) {
      let d = dir;
      while (!(await exists(d))) {
        const up = path.dirname(d);
        if (up === d || !d.startsWith(floor) || d === floor) {
          d = '';
          break;
        }
        d = up;
      }
      if (d) want.add(d);
    }
    return want;
  }

  #onFsEvent(file: string): void {
    if (this.#stopped || !this.#plan) return;
    const isTarget = this.#plan.targets.has(file);
    const isSource = this.#plan.projectSources.has(file);
    // An owner's settings file holding a block: nothing to read, only enforcement to run again.
    const isOwnerPolicy = !isTarget && !isSource && this.#enforcer.ownerPolicyFiles().has(file);
    const isDirOfInterest = !isTarget && !isSource && !isOwnerPolicy && [...this.#plan.watchDirs.keys()].some((d) => d === file || d.startsWith(file + path.sep) || path.dirname(d) === file);
    if (!isTarget && !isSource && !isOwnerPolicy && !isDirOfInterest) return;
    const key = isSource || isDirOfInterest ? '\0replan' : file;
    if (key === '\0replan') this.#replanPaths.add(file);
    this.#o.clock.clearTimeout(this.#timers.get(key));
    this.#timers.set(
      key,
      this.#o.clock.setTimeout(() => {
        this.#timers.delete(key);
        void this.#serial(async () => {
          if (this.#stopped) return;
          if (key === '\0replan') {
            const changed = [...this.#replanPaths];
            this.#replanPaths.clear();
            const before = new Set(this.#plan?.targets.keys());
            await this.#replan();
            // New targets, changed files, and everything under a folder that appeared or went away.
            const touched = (t: string): boolean => !before.has(t) || changed.some((c) => t === c || t.startsWith(c + path.sep));
            for (const t of this.#plan!.targets.values()) if (touched(t.path)) await this.#inventory.read(t);
          } else {
            const target = this.#plan?.targets.get(file);
            if (target) await this.#inventory.read(target);
          }
          await this.#afterChange();
        });
      }, this.#o.debounceMs),
    );
  }
}

/**
 * chokidar's add() returns before the OS watch exists, so a change made right after enforcement (a
 * user taking a block out of their settings) could be missed. Waits until each folder is watched,
 * bounded in turns of the event loop (a folder that vanished meanwhile is never watched).
 */
async function watchesInPlace(watcher: ReturnType<typeof watch>, dirs: readonly string[]): Promise<void> {
  for (let turn = 0; turn < 2000; turn++) {
    const watched = watcher.getWatched();
    if (dirs.every((d) => Object.hasOwn(watched, d))) return;
    await new Promise((r) => setImmediate(r));
  }
}
