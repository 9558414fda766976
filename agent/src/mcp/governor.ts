// The MCP room's engine: inventories every configured MCP server for every local user, keeps the
// last good result per file, reports the redacted inventory, watches the files, and enforces the
// policy's allow/block decisions through each app's managed policy or the user's own file.
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../lib/logger.ts';
import type { Store } from '../store/index.ts';
import { applyBlocks, undoBlocks, type FileEditKind } from './file-edit.ts';
import { fingerprintIdentity, serverIdentity, type ServerIdentity } from './fingerprint.ts';
import {
  buildClaudeManagedSettings,
  buildCodexRequirements,
  buildGeminiSystemSettings,
  buildVscodeMacPlist,
  buildVscodePolicyJson,
  buildVscodeWindowsReg,
  MANAGED_POLICY_PATHS,
  type CodexAllowedServer,
  type ManagedPolicyApp,
} from './managed-policy.ts';
import { extractEntries, normalizeEntry } from './normalize.ts';
import { buildPlan, type ConfigTarget, type Plan } from './plan.ts';
import { ConfigReadError, DEFAULT_SIZE_LIMIT, readConfigDocument } from './read-config.ts';
import { redactServer, Redactor } from './redact.ts';
import { readForEdit, readManagedFile, RefusedWriteError, removeManagedFile, replaceUserFile, writeManagedFile } from './safe-write.ts';
import { McpTables } from './schema.ts';
import { listLocalUsers } from './users.ts';
import type {
  DecideMcpServer,
  EnforcedHow,
  McpApp,
  McpAuditAction,
  McpAuditEvent,
  McpDecision,
  McpDiscovery,
  McpFileError,
  McpInventory,
  McpListRow,
  McpServerReport,
  NormalizedServer,
  OsUser,
  Platform,
} from './types.ts';

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
}

interface FileResult {
  target: ConfigTarget;
  servers: NormalizedServer[];
  errors: McpFileError[];
}

interface ServerSeen {
  target: ConfigTarget;
  server: NormalizedServer;
  identity: ServerIdentity;
  fingerprint: string;
}

const FILE_EDIT_KINDS: ReadonlySet<string> = new Set(['disable-flag', 'enabled-false', 'quarantine']);

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function isEmptyDocument(text: string): boolean {
  const stripped = text.replace(/^\s*#.*$/gm, '').trim();
  return stripped === '' || stripped === '{}';
}

function keyOf(file: string, name: string, projectPath?: string): string {
  return `${file}\0${projectPath ?? ''}\0${name}`;
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
  readonly #o: Required<Omit<McpGovernorOptions, 'users' | 'passwdFile'>> & Pick<McpGovernorOptions, 'users' | 'passwdFile'>;
  readonly #tables: McpTables;
  readonly #redactor: Redactor;
  #plan: Plan | undefined;
  readonly #results = new Map<string, FileResult>();
  readonly #enforced = new Map<string, { how: EnforcedHow; detail?: string }>();
  readonly #artifacts = new Map<string, string>();
  #watcher: FSWatcher | undefined;
  #watched = new Set<string>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #replanPaths = new Set<string>();
  #interval: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #lastReported = '';
  #stopped = false;
  #discovery: McpDiscovery = { state: 'in_progress', started_at: null, finished_at: null, error: null };

  constructor(options: McpGovernorOptions) {
    const platform = options.platform ?? (process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux');
    this.#o = {
      ...options,
      platform,
      managedRoot: options.managedRoot ?? (platform === 'win32' ? 'C:\\' : '/'),
      sizeLimit: options.sizeLimit ?? DEFAULT_SIZE_LIMIT,
      debounceMs: options.debounceMs ?? 150,
      rescanIntervalMs: options.rescanIntervalMs ?? 15 * 60_000,
      watch: options.watch ?? true,
      enforce: options.enforce ?? true,
    };
    this.#tables = new McpTables(options.store.db);
    this.#redactor = new Redactor(this.#tables.deviceKey());
  }

  /** Full inventory, enforcement, then watching. */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#discovery = { state: 'in_progress', started_at: new Date().toISOString(), finished_at: null, error: null };
    try {
      await this.rescan();
    } catch (err) {
      this.#discovery = { ...this.#discovery, state: 'failed', finished_at: new Date().toISOString(), error: (err as Error).message };
      throw err;
    }
    this.#discovery = { ...this.#discovery, state: 'done', finished_at: new Date().toISOString() };
    // The daemon starts discovery in the background; it may have been told to stop meanwhile.
    if (this.#stopped) return;
    if (this.#o.watch) await this.#startWatcher();
    if (this.#o.rescanIntervalMs > 0) {
      this.#interval = setInterval(() => void this.rescan().catch((err: unknown) => this.#o.logger.error({ err }, 'mcp periodic rescan failed')), this.#o.rescanIntervalMs);
      this.#interval.unref();
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#interval) clearInterval(this.#interval);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#watcher?.close();
    this.#watcher = undefined;
    this.#watched.clear();
    await this.#chain;
  }

  /** Re-plans (users, projects), re-reads every file, enforces and reports. */
  rescan(): Promise<void> {
    return this.#serial(async () => {
      await this.#replan();
      for (const target of this.#plan!.targets.values()) await this.#readTarget(target);
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

  /** The redacted inventory as last computed. */
  inventory(): McpInventory {
    const servers: McpServerReport[] = [];
    const errors: McpFileError[] = [];
    for (const r of [...this.#results.values()].sort((a, b) => a.target.path.localeCompare(b.target.path))) {
      errors.push(...r.errors);
      for (const s of r.servers) {
        servers.push(
          redactServer(this.#redactor, s, {
            app: r.target.location.app,
            scope: s.projectPath !== undefined ? 'project' : r.target.location.scope,
            configPath: r.target.path,
            osUser: r.target.user.name,
            fingerprint: fingerprintIdentity(serverIdentity(s)),
          }),
        );
      }
    }
    return { generatedAt: new Date().toISOString(), servers, errors };
  }

  /** Rows for `heimdall mcp`: each server with its decision and how it is enforced. */
  list(): McpListRow[] {
    return this.inventory().servers.map((s) => {
      const e = this.#enforced.get(keyOf(s.configPath, s.name, s.projectPath)) ?? { how: 'none' as const };
      const row: McpListRow = { ...s, decision: this.#decide(s.fingerprint, s.osUser), enforcedHow: e.how };
      if (e.detail !== undefined) row.enforcedDetail = e.detail;
      return row;
    });
  }

  /** Policy artifacts Heimdall cannot apply as a file on this OS (VS Code registry / managed prefs). */
  policyArtifacts(): ReadonlyMap<string, string> {
    return this.#artifacts;
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
    this.#plan = await buildPlan({ platform: this.#o.platform, users: await this.#users(), managedRoot: this.#o.managedRoot, sizeLimit: this.#o.sizeLimit });
    for (const file of [...this.#results.keys()]) {
      if (!this.#plan.targets.has(file)) this.#results.delete(file);
    }
    if (this.#watcher) await this.#syncWatches();
  }

  async #readTarget(target: ConfigTarget): Promise<void> {
    const { location, user } = target;
    const fileError = (code: McpFileError['code'], message: string, keptLastGood: boolean): McpFileError => ({
      app: location.app,
      configPath: target.path,
      osUser: user.name,
      code,
      message,
      keptLastGood,
    });
    try {
      const read = await readConfigDocument(target.path, location.format, { ownerUid: user.uid, sizeLimit: this.#o.sizeLimit }, location.streamPaths);
      if (!read) {
        this.#results.delete(target.path);
        this.#tables.forgetFile(target.path);
        return;
      }
      const extracted = extractEntries(location.extractor, read.doc);
      if (!extracted.ok) throw new ConfigReadError('parse', `${target.path}: ${extracted.message}; the servers last read from it stay in force`);
      const servers: NormalizedServer[] = [];
      const errors: McpFileError[] = [];
      for (const entry of extracted.entries) {
        const n = normalizeEntry(location.app, location.extractor, entry);
        if (n.ok) servers.push(n.server);
        else errors.push(fileError('invalid-entry', `${target.path}: server "${entry.name}": ${n.message}; skipped, the other servers in the file are reported`, false));
      }
      this.#results.set(target.path, { target, servers, errors });
      this.#tables.saveLastGood(target.path, location.app, user.name, servers);
    } catch (err) {
      if (!(err instanceof ConfigReadError)) throw err;
      const last = this.#results.get(target.path)?.servers ?? this.#tables.lastGood(target.path);
      this.#results.set(target.path, { target, servers: last ?? [], errors: [fileError(err.code, err.message, last !== undefined)] });
      this.#o.logger.warn({ path: target.path, code: err.code }, err.message);
    }
  }

  async #afterChange(): Promise<void> {
    if (this.#o.enforce) await this.#enforce();
    const inventory = this.inventory();
    const fingerprintOfReport = JSON.stringify({ ...inventory, generatedAt: '' });
    if (fingerprintOfReport !== this.#lastReported) {
      this.#lastReported = fingerprintOfReport;
      this.#o.report(inventory);
    }
  }

  #emit(action: McpAuditAction, app: McpApp, file: string, servers: ServerSeen[], detail: string, osUser?: string): void {
    const event: McpAuditEvent = {
      type: 'mcp.enforcement',
      action,
      app,
      path: file,
      servers: servers.map((s) => ({ name: s.server.name, fingerprint: s.fingerprint })),
      detail,
      at: new Date().toISOString(),
    };
    if (osUser !== undefined) event.osUser = osUser;
    this.#o.audit(event);
  }

  async #enforce(): Promise<void> {
    this.#enforced.clear();
    const seen: ServerSeen[] = [];
    for (const r of this.#results.values()) {
      for (const server of r.servers) {
        const identity = serverIdentity(server);
        seen.push({ target: r.target, server, identity, fingerprint: fingerprintIdentity(identity) });
      }
    }
    const blocked = (s: ServerSeen): boolean => this.#decide(s.fingerprint, s.target.user.name).verdict === 'block';
    const setHow = (s: ServerSeen, how: EnforcedHow, detail?: string): void => {
      this.#enforced.set(keyOf(s.target.path, s.server.name, s.server.projectPath), detail === undefined ? { how } : { how, detail });
    };

    const byApp = (app: McpApp): ServerSeen[] => seen.filter((s) => s.target.location.app === app && s.target.location.enforcement === 'managed-policy');
    for (const app of ['claude-code', 'codex', 'gemini-cli', 'vscode'] as const) {
      const all = byApp(app);
      const denied = all.filter(blocked);
      const result = await this.#writeManagedPolicy(app, all, denied);
      for (const s of denied) setHow(s, result.ok ? 'managed-policy' : 'not-enforceable', result.detail);
    }

    const byFile = new Map<string, ServerSeen[]>();
    for (const s of seen) {
      if (!FILE_EDIT_KINDS.has(s.target.location.enforcement)) continue;
      const list = byFile.get(s.target.path) ?? [];
      list.push(s);
      byFile.set(s.target.path, list);
    }
    // Files Heimdall edited earlier but where nothing is found any more still need their restore.
    for (const r of this.#results.values()) {
      if (FILE_EDIT_KINDS.has(r.target.location.enforcement) && !byFile.has(r.target.path) && this.#tables.fileEdit(r.target.path)) byFile.set(r.target.path, []);
    }
    for (const [file, servers] of byFile) {
      const target = this.#results.get(file)?.target;
      if (!target || this.#results.get(file)?.errors.some((e) => e.code !== 'invalid-entry')) continue;
      const denied = servers.filter(blocked);
      const outcome = await this.#reconcileFile(target, servers, denied);
      for (const s of denied) setHow(s, outcome.ok ? 'file-edit' : 'not-enforceable', outcome.detail);
    }
  }

  async #writeManagedPolicy(app: ManagedPolicyApp, all: ServerSeen[], denied: ServerSeen[]): Promise<{ ok: boolean; detail: string }> {
    const rel = MANAGED_POLICY_PATHS[app][this.#o.platform];
    if (app === 'vscode' && this.#o.platform !== 'linux') {
      const key = `vscode:${this.#o.platform}`;
      if (denied.length === 0) this.#artifacts.delete(key);
      else this.#artifacts.set(key, this.#o.platform === 'win32' ? buildVscodeWindowsReg(denied.map((d) => d.identity)) : await buildVscodeMacPlist(denied.map((d) => d.identity)));
      return { ok: false, detail: `VS Code reads this policy from ${this.#o.platform === 'win32' ? 'the registry' : 'managed preferences'}: deploy the ChatDeniedMcpServers artifact` };
    }
    if (rel === null) return { ok: false, detail: `${app} has no managed policy file on ${this.#o.platform}` };
    const file = path.join(this.#o.managedRoot, rel);
    const record = this.#tables.policyFile(file);
    try {
      const existing = await readManagedFile(file);
      let next: string | undefined;
      let contribution: unknown = null;
      let detail = `${file}`;
      switch (app) {
        case 'claude-code':
          next = denied.length > 0 ? buildClaudeManagedSettings(denied.map((d) => d.identity)) : undefined;
          break;
        case 'codex': {
          const allowed: CodexAllowedServer[] = all
            .filter((s) => !denied.includes(s))
            .map((s) => ({ name: s.server.name, identity: s.server.transport === 'stdio' ? { command: s.server.command ?? '' } : { url: s.server.url ?? '' } }));
          const built = buildCodexRequirements(existing, allowed, denied.length > 0);
          next = built.text;
          if (built.conflicts.length > 0) detail += ` (names allowed with two identities, only one expressible: ${built.conflicts.join(', ')})`;
          break;
        }
        case 'gemini-cli': {
          const previous = Array.isArray(record?.contribution) ? (record.contribution as string[]) : [];
          const built = buildGeminiSystemSettings(existing, denied.map((d) => d.server.name), previous);
          next = built.text;
          contribution = built.added;
          detail += ' (Gemini CLI excludes by server name)';
          break;
        }
        case 'vscode':
          next = buildVscodePolicyJson(existing, denied.map((d) => d.identity));
          break;
      }
      // A file Heimdall created and emptied again is removed rather than left as `{}`.
      if (next !== undefined && record && !record.existedBefore && isEmptyDocument(next)) next = undefined;
      if (next === existing) return { ok: true, detail };
      if (next === undefined) {
        if (existing !== undefined && (record !== undefined || app !== 'claude-code')) {
          await removeManagedFile(file);
          this.#tables.deletePolicyFile(file);
          this.#emit('policy-removed', app, file, all, 'no server of this app is blocked any more');
        }
        return { ok: true, detail };
      }
      await writeManagedFile(file, next);
      this.#tables.savePolicyFile({ path: file, app, existedBefore: record?.existedBefore ?? existing !== undefined, writtenSha256: sha256(next), contribution });
      this.#emit('policy-written', app, file, denied, `${denied.length} server(s) blocked through the app's managed policy`);
      return { ok: true, detail };
    } catch (err) {
      const message = `${file}: cannot write the managed policy (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      this.#o.logger.warn({ app, path: file }, message);
      if (denied.length > 0) this.#emit('refused', app, file, denied, message);
      return { ok: false, detail: message };
    }
  }

  async #reconcileFile(target: ConfigTarget, servers: ServerSeen[], denied: ServerSeen[]): Promise<{ ok: boolean; detail: string }> {
    const kind = target.location.enforcement as FileEditKind;
    const file = target.path;
    const names = [...new Set(denied.map((d) => d.server.name))];
    try {
      const current = await readForEdit(file, { ownerUid: target.user.uid, sizeLimit: this.#o.sizeLimit });
      const record = this.#tables.fileEdit(file);
      if (!current) {
        if (record) this.#tables.deleteFileEdit(file);
        return { ok: true, detail: file };
      }
      const currentText = current.bytes.toString('utf8');
      let base: Buffer;
      let reverted = false;
      if (record && sha256(current.bytes) === record.writtenSha256) base = record.original;
      else if (record) {
        // Someone changed the file since Heimdall wrote it (the user undoing the block, or other edits):
        // take Heimdall's own changes out of the current text and apply the policy again from there.
        base = Buffer.from(undoBlocks(kind, currentText, record.touched), 'utf8');
        reverted = true;
      } else base = current.bytes;
      const applied = names.length > 0 ? applyBlocks(kind, base.toString('utf8'), names) : { text: base.toString('utf8'), touched: {} };
      const desired = names.length > 0 ? Buffer.from(applied.text, 'utf8') : base;
      if (!desired.equals(current.bytes)) {
        await replaceUserFile(current, desired);
        await this.#readTarget(target);
        const action: McpAuditAction = names.length === 0 ? 'file-restored' : reverted ? 're-applied' : kind === 'quarantine' ? 'entry-quarantined' : 'entry-disabled';
        const detail =
          names.length === 0 ? 'no entry in this file is blocked any more: original restored' : `${names.length} entr${names.length === 1 ? 'y' : 'ies'} ${kind === 'quarantine' ? 'quarantined' : 'disabled'}`;
        this.#emit(action, target.location.app, file, names.length === 0 ? servers : denied, detail, target.user.name);
      }
      if (Object.keys(applied.touched).length === 0) this.#tables.deleteFileEdit(file);
      else this.#tables.saveFileEdit({ path: file, app: target.location.app, osUser: target.user.name, original: base, writtenSha256: sha256(desired), touched: applied.touched });
      return { ok: true, detail: file };
    } catch (err) {
      if (!(err instanceof RefusedWriteError) && !(err as NodeJS.ErrnoException).code) throw err;
      const message = err instanceof RefusedWriteError ? err.message : `${file}: cannot write (${(err as NodeJS.ErrnoException).code})`;
      if (denied.length > 0) this.#emit('refused', target.location.app, file, denied, message, target.user.name);
      return { ok: false, detail: message };
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
    if (add.length > 0) this.#watcher.add(add);
    if (remove.length > 0) this.#watcher.unwatch(remove);
    this.#watched = want;
  }

  async #wantedWatches(): Promise<Set<string>> {
    const want = new Set<string>();
    if (!this.#plan) return want;
    for (const [dir, floor] of this.#plan.watchDirs) {
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
    const isDirOfInterest = !isTarget && !isSource && [...this.#plan.watchDirs.keys()].some((d) => d === file || d.startsWith(file + path.sep) || path.dirname(d) === file);
    if (!isTarget && !isSource && !isDirOfInterest) return;
    const key = isSource || isDirOfInterest ? '\0replan' : file;
    if (key === '\0replan') this.#replanPaths.add(file);
    clearTimeout(this.#timers.get(key));
    this.#timers.set(
      key,
      setTimeout(() => {
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
            for (const t of this.#plan!.targets.values()) if (touched(t.path)) await this.#readTarget(t);
          } else {
            const target = this.#plan?.targets.get(file);
            if (target) await this.#readTarget(target);
          }
          await this.#afterChange();
        });
      }, this.#o.debounceMs),
    );
  }
}
