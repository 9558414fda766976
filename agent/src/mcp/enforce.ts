// Carries out the policy's block decisions for every server in the inventory, through each app's
// adapter: the app's managed policy (one file per app for the whole machine, or an artifact where
// the OS keeps policy elsewhere) or an edit of the user's own file (restored when nothing in it is
// blocked any more). Every action is an audit event.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../lib/logger.ts';
import type { UserFs } from '../userfs/index.ts';
import type { FileEditEnforcement, ManagedPolicyEnforcement, McpAppAdapter, OwnerPolicy, PolicyServer } from './app-adapter.ts';
import type { Clock } from '../../../lib/index.ts';
import { carriesSecret, fingerprintOf, legacyFingerprint, serverIdentity } from './fingerprint.ts';
import type { FileResult, Inventory } from './inventory.ts';
import { isRecord } from './normalize.ts';
import { SYSTEM_USER, type ConfigTarget } from './plan.ts';
import { createUserFile, readForEdit, readManagedFile, RefusedWriteError, removeManagedFile, removeUserFile, replaceUserFile, writeManagedFile } from './safe-write.ts';
import type { McpTables } from './schema.ts';
import type { EnforcedHow, McpAuditAction, McpAuditEvent, McpDecision, OsUser, Platform } from './types.ts';

export interface EnforcerOptions {
  tables: McpTables;
  inventory: Inventory;
  logger: Logger;
  clock: Clock;
  /** Never throws: the governor answers `allow` when the policy room fails. */
  decide: (fingerprint: string, osUser: string) => McpDecision;
  audit: (event: McpAuditEvent) => void;
  platform: Platform;
  managedRoot: string;
  sizeLimit: number;
  fsFor: (user: OsUser) => UserFs;
}

/** A server found in one file, with what the enforcement needs about it. */
interface ServerSeen extends PolicyServer {
  target: ConfigTarget;
  fingerprint: string;
  /** For a server carrying a secret: its fingerprint before secrets were left out (decisions taken on it still count). */
  legacy?: string;
}

/**
 * The decision for a server. A server carrying a secret got a new fingerprint when secrets were
 * left out of it; until an administrator decides the new catalog item (pending), a decision taken on
 * the old one still holds, so an upgrade never lifts a block (or an approval) by itself.
 */
export function decideCarriedOver(decide: (fingerprint: string, osUser: string) => McpDecision, fingerprint: string, legacy: string | undefined, osUser: string): McpDecision {
  const now = decide(fingerprint, osUser);
  if (legacy === undefined || now.status !== 'pending') return now;
  const before = decide(legacy, osUser);
  return before.status === 'denied' || before.status === 'approved' ? before : now;
}

interface Outcome {
  ok: boolean;
  detail: string;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Nothing but whitespace, line comments (`#` TOML, `//` JSONC) and one empty object: jsonc edits leave `{\n}`. */
function isEmptyDocument(text: string): boolean {
  const stripped = text.replace(/^\s*(#|\/\/).*$/gm, '').replace(/\s+/g, '');
  return stripped === '' || stripped === '{}';
}

/** The key of one server in one file (a per-project section of a user file is its own server). */
export function serverKey(file: string, name: string, projectPath?: string): string {
  return `${file}\0${projectPath ?? ''}\0${name}`;
}

/** The owner recorded with an owner-policy file (so it can be cleaned when nothing is blocked). */
function ownerOf(contribution: unknown): OsUser | undefined {
  if (!isRecord(contribution) || !isRecord(contribution.owner)) return undefined;
  const { name, uid, gid, home } = contribution.owner;
  if (typeof name !== 'string' || typeof uid !== 'number' || typeof gid !== 'number' || typeof home !== 'string') return undefined;
  return { name, uid, gid, home };
}

export class Enforcer {
  readonly #o: EnforcerOptions;
  readonly #enforced = new Map<string, { how: EnforcedHow; detail?: string }>();
  readonly #legacy = new Map<string, string>();
  readonly #artifacts = new Map<string, string>();
  /** Owners' settings files that hold a block now: the governor watches them, so an undone block comes back. */
  readonly #ownerFiles = new Set<string>();

  constructor(options: EnforcerOptions) {
    this.#o = options;
  }

  /** The decision for the server under `key` (see decideCarriedOver). */
  decision(key: string, fingerprint: string, osUser: string): McpDecision {
    return decideCarriedOver(this.#o.decide, fingerprint, this.#legacy.get(key), osUser);
  }

  /** How a server's decision was carried out at the last enforcement. */
  howEnforced(key: string): { how: EnforcedHow; detail?: string } {
    return this.#enforced.get(key) ?? { how: 'none' };
  }

  ownerPolicyFiles(): ReadonlySet<string> {
    return this.#ownerFiles;
  }

  /** Policy artifacts Heimdall cannot apply as a file on this OS (keyed `<app>:<platform>`). */
  artifacts(): ReadonlyMap<string, string> {
    return this.#artifacts;
  }

  async enforce(apps: readonly McpAppAdapter[]): Promise<void> {
    this.#enforced.clear();
    this.#legacy.clear();
    const seen: ServerSeen[] = [];
    const local = this.#o.tables.localFingerprints();
    for (const r of this.#o.inventory.results()) {
      for (const server of r.servers) {
        const identity = serverIdentity(server);
        const secret = server.stored ? server.stored.carriesSecret : carriesSecret(identity);
        const s: ServerSeen = {
          target: r.target,
          server,
          identity,
          carriesSecret: secret,
          exact: !server.stored || !secret,
          localFingerprint: server.stored?.localFingerprint ?? local.identity(identity),
          fingerprint: fingerprintOf(server),
        };
        if (secret && !server.stored) {
          s.legacy = legacyFingerprint(identity);
          this.#legacy.set(serverKey(r.target.path, server.name, server.projectPath), s.legacy);
        }
        seen.push(s);
      }
    }
    const blocked = (s: ServerSeen): boolean => decideCarriedOver(this.#o.decide, s.fingerprint, s.legacy, s.target.user.name).verdict === 'block';
    const setHow = (s: ServerSeen, how: EnforcedHow, detail?: string): void => {
      this.#enforced.set(serverKey(s.target.path, s.server.name, s.server.projectPath), detail === undefined ? { how } : { how, detail });
    };

    for (const app of apps) {
      const { enforcement } = app;
      if (enforcement.kind !== 'managed-policy') continue;
      const all = seen.filter((s) => s.target.app === app);
      const denied = all.filter(blocked);
      // Per server: a block the machine-wide file can carry without a secret goes there; any other
      // goes to its owner's own settings (docs/mcp.md "Which file a block goes to").
      const shareable = enforcement.shareable ?? ((): boolean => true);
      const shared = denied.filter(shareable);
      const outcome = await this.#writeManagedPolicy(app, enforcement, all, shared);
      for (const s of shared) setHow(s, outcome.ok ? 'managed-policy' : 'not-enforceable', outcome.detail);
      await this.#writeOwnerPolicies(app, enforcement, denied.filter((s) => !shareable(s)), setHow);
    }

    const byFile = new Map<string, ServerSeen[]>();
    for (const s of seen) {
      if (s.target.app.enforcement.kind !== 'file-edit') continue;
      const list = byFile.get(s.target.path) ?? [];
      list.push(s);
      byFile.set(s.target.path, list);
    }
    // Files Heimdall edited earlier but where nothing is found any more still need their restore.
    for (const r of this.#o.inventory.results()) {
      if (r.target.app.enforcement.kind === 'file-edit' && !byFile.has(r.target.path) && this.#o.tables.fileEdit(r.target.path)) byFile.set(r.target.path, []);
    }
    for (const [file, servers] of byFile) {
      const result: FileResult | undefined = this.#o.inventory.get(file);
      if (!result || result.errors.some((e) => e.code !== 'invalid-entry')) continue;
      const { enforcement } = result.target.app;
      if (enforcement.kind !== 'file-edit') continue;
      const denied = servers.filter(blocked);
      const outcome = await this.#reconcileFile(result.target, enforcement, servers, denied);
      for (const s of denied) setHow(s, outcome.ok ? 'file-edit' : 'not-enforceable', outcome.detail);
    }
  }

  #emit(action: McpAuditAction, app: McpAppAdapter, file: string, servers: readonly ServerSeen[], detail: string, osUser?: string): void {
    const event: McpAuditEvent = {
      type: 'mcp.enforcement',
      action,
      app: app.id,
      path: file,
      servers: servers.map((s) => ({ name: s.server.name, fingerprint: s.fingerprint })),
      detail,
      at: new Date(this.#o.clock.now()).toISOString(),
    };
    if (osUser !== undefined) event.osUser = osUser;
    this.#o.audit(event);
  }

  async #writeManagedPolicy(app: McpAppAdapter, enforcement: ManagedPolicyEnforcement, all: ServerSeen[], denied: ServerSeen[]): Promise<Outcome> {
    const { platform } = this.#o;
    const place = enforcement.place[platform];
    if (place === null) return { ok: false, detail: `${app.id} has no managed policy file on ${platform}` };
    if ('artifact' in place) {
      const key = `${app.id}:${platform}`;
      if (denied.length === 0) this.#artifacts.delete(key);
      else this.#artifacts.set(key, await place.artifact.build(denied.map((d) => d.identity)));
      return { ok: false, detail: place.artifact.detail };
    }
    const file = path.join(this.#o.managedRoot, place.file);
    const record = this.#o.tables.policyFile(file);
    try {
      const existing = await readManagedFile(file);
      const built = enforcement.build({ existing, servers: all, blocked: denied, previousContribution: record?.contribution, writtenBefore: record !== undefined });
      let next = built.text;
      const detail = built.note === undefined ? file : `${file} (${built.note})`;
      // A file Heimdall created and emptied again is removed rather than left as `{}`.
      if (next !== undefined && record && !record.existedBefore && isEmptyDocument(next)) next = undefined;
      if (next === existing) return { ok: true, detail };
      if (next === undefined) {
        if (existing !== undefined) {
          await removeManagedFile(file);
          this.#o.tables.deletePolicyFile(file);
          this.#emit('policy-removed', app, file, all, 'no server of this app is blocked any more');
        }
        return { ok: true, detail };
      }
      await writeManagedFile(file, next);
      this.#o.tables.savePolicyFile({ path: file, app: app.id, existedBefore: record?.existedBefore ?? existing !== undefined, writtenSha256: sha256(next), contribution: built.contribution ?? null });
      this.#emit('policy-written', app, file, denied, `${denied.length} server(s) blocked through the app's managed policy`);
      return { ok: true, detail };
    } catch (err) {
      const message = `${file}: cannot write the managed policy (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      this.#o.logger.warn({ app: app.id, path: file }, message);
      if (denied.length > 0) this.#emit('refused', app, file, denied, message);
      return { ok: false, detail: message };
    }
  }

  /** Blocks that must not be published, in each owner's own settings; files of owners with nothing blocked any more are cleaned. */
  async #writeOwnerPolicies(
    app: McpAppAdapter,
    enforcement: ManagedPolicyEnforcement,
    denied: ServerSeen[],
    setHow: (s: ServerSeen, how: EnforcedHow, detail?: string) => void,
  ): Promise<void> {
    const policy = enforcement.ownerPolicy;
    const byOwner = new Map<string, { user: OsUser; servers: ServerSeen[] }>();
    for (const s of denied) {
      const user = s.target.user;
      if (!policy || user === SYSTEM_USER || user.home === '') {
        setHow(
          s,
          'not-enforceable',
          policy
            ? `${s.target.path}: an administrator's file gives this server a command line with a secret in it; a block would publish that secret in the machine-wide policy, so none is written (move the secret to an environment variable)`
            : `its command line carries a secret and ${app.id}'s machine-wide policy is readable by every user, so no block is written (move the secret to an environment variable to make it enforceable)`,
        );
        continue;
      }
      const entry = byOwner.get(user.name) ?? { user, servers: [] };
      entry.servers.push(s);
      byOwner.set(user.name, entry);
    }
    if (!policy) return;
    // Owners with entries written before and nothing blocked now: their files are cleaned up.
    for (const record of this.#o.tables.policyFiles(app.id)) {
      const owner = ownerOf(record.contribution);
      if (owner && !byOwner.has(owner.name)) byOwner.set(owner.name, { user: owner, servers: [] });
    }
    for (const { user, servers } of byOwner.values()) {
      const outcome = await this.#writeOwnerPolicy(app, policy, user, servers);
      const file = path.join(user.home, ...policy.path.split('/'));
      if (servers.length > 0) this.#ownerFiles.add(file);
      else this.#ownerFiles.delete(file);
      for (const s of servers) setHow(s, outcome.ok ? 'file-edit' : 'not-enforceable', outcome.detail);
    }
  }

  async #writeOwnerPolicy(app: McpAppAdapter, policy: OwnerPolicy, user: OsUser, servers: ServerSeen[]): Promise<Outcome> {
    const file = path.join(user.home, ...policy.path.split('/'));
    const record = this.#o.tables.policyFile(file);
    try {
      const access = { ownerUid: user.uid, sizeLimit: this.#o.sizeLimit, fs: this.#o.fsFor(user), anchor: user.home };
      const current = await readForEdit(file, access);
      const existing = current?.bytes.toString('utf8');
      const previous = isRecord(record?.contribution) ? record.contribution.built : undefined;
      const built = policy.build({ existing, blocked: servers, previousContribution: previous, local: this.#o.tables.localFingerprints() });
      let next = built.text;
      if (next !== undefined && record && !record.existedBefore && isEmptyDocument(next)) next = undefined;
      const detail = `${file} (the user's own settings: the command line carries a secret)`;
      if (next === undefined) {
        if (current) {
          // The walk follows no link, so a file the user replaced by a link was refused when read; this removes a real file.
          await removeUserFile(current);
          this.#emit('policy-removed', app, file, servers, 'no server of this user is blocked there any more', user.name);
        }
        this.#o.tables.deletePolicyFile(file);
        return { ok: true, detail };
      }
      if (next !== existing) {
        // The file repeats the user's own secret: readable by that user alone.
        if (current) await replaceUserFile({ ...current, mode: current.mode & ~0o077 }, next);
        else await createUserFile(file, next, access);
        this.#emit(servers.length > 0 ? 'policy-written' : 'policy-removed', app, file, servers, servers.length > 0 ? `${servers.length} server(s) blocked in the user's own settings` : "Heimdall's entries taken out", user.name);
      }
      if (servers.length === 0) this.#o.tables.deletePolicyFile(file);
      else {
        const contribution = { owner: { name: user.name, uid: user.uid, gid: user.gid, home: user.home }, built: built.contribution ?? null };
        this.#o.tables.savePolicyFile({ path: file, app: app.id, existedBefore: record?.existedBefore ?? current !== undefined, writtenSha256: sha256(next), contribution });
      }
      return { ok: true, detail };
    } catch (err) {
      const reason = err instanceof RefusedWriteError ? err.message : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      const message = `${file}: cannot write the user's settings (${reason})`;
      this.#o.logger.warn({ app: app.id, path: file }, message);
      if (servers.length > 0) this.#emit('refused', app, file, servers, message, user.name);
      return { ok: false, detail: message };
    }
  }

  async #reconcileFile(target: ConfigTarget, enforcement: FileEditEnforcement, servers: ServerSeen[], denied: ServerSeen[]): Promise<Outcome> {
    const { edit } = enforcement;
    const file = target.path;
    const names = [...new Set(denied.map((d) => d.server.name))];
    try {
      const current = await readForEdit(file, { ownerUid: target.user.uid, sizeLimit: this.#o.sizeLimit, fs: this.#o.fsFor(target.user), anchor: target.anchor });
      const record = this.#o.tables.fileEdit(file);
      if (!current) {
        if (record) this.#o.tables.deleteFileEdit(file);
        return { ok: true, detail: file };
      }
      const currentText = current.bytes.toString('utf8');
      let base: Buffer;
      let reverted = false;
      if (record && sha256(current.bytes) === record.writtenSha256) base = record.original;
      else if (record) {
        // Someone changed the file since Heimdall wrote it (the user undoing the block, or other edits):
        // take Heimdall's own changes out of the current text and apply the policy again from there.
        base = Buffer.from(edit.undo(currentText, record.touched), 'utf8');
        reverted = true;
      } else base = current.bytes;
      const applied = names.length > 0 ? edit.apply(base.toString('utf8'), names) : { text: base.toString('utf8'), touched: {} };
      const desired = names.length > 0 ? Buffer.from(applied.text, 'utf8') : base;
      if (!desired.equals(current.bytes)) {
        await replaceUserFile(current, desired);
        await this.#o.inventory.read(target);
        const action: McpAuditAction = names.length === 0 ? 'file-restored' : reverted ? 're-applied' : edit.action;
        const detail =
          names.length === 0 ? 'no entry in this file is blocked any more: original restored' : `${names.length} entr${names.length === 1 ? 'y' : 'ies'} ${edit.word}`;
        this.#emit(action, target.app, file, names.length === 0 ? servers : denied, detail, target.user.name);
      }
      if (Object.keys(applied.touched).length === 0) this.#o.tables.deleteFileEdit(file);
      else this.#o.tables.saveFileEdit({ path: file, app: target.app.id, osUser: target.user.name, original: base, writtenSha256: sha256(desired), touched: applied.touched });
      return { ok: true, detail: file };
    } catch (err) {
      if (!(err instanceof RefusedWriteError) && !(err as NodeJS.ErrnoException).code) throw err;
      const message = err instanceof RefusedWriteError ? err.message : `${file}: cannot write (${(err as NodeJS.ErrnoException).code})`;
      if (denied.length > 0) this.#emit('refused', target.app, file, denied, message, target.user.name);
      return { ok: false, detail: message };
    }
  }
}
