// Applies a plan and records every change in the state dir, so uninstall takes back exactly what
// install did: files restored byte for byte (or removed), links and folders it added removed,
// commands undone, and nothing else touched.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rm, rmdir, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../lib/private-fs.ts';
import type { Change, CommandChange, CommandScope, InstallPlan, InstallPlatform, Refresh } from './types.ts';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; a missing program answers code 127 instead of throwing. */
export type CommandRunner = (argv: readonly string[]) => Promise<CommandResult>;

export interface ExecuteContext {
  /** Where the record lives (the state dir, under the root). */
  recordFile: string;
  /** Acting on the running system (root `/`), not on a directory tree. */
  live: boolean;
  /** The service manager is up (systemd running, launchd, the SCM). */
  serviceManager: boolean;
  run: CommandRunner;
  /** false: record the service steps (uninstall still stops the service) but leave starting to the caller. */
  start?: boolean;
  /** One line per thing done or skipped, for the person running the command. */
  report: (line: string) => void;
}

interface FileBefore {
  base64: string;
  mode: number;
}

type RecordedChange =
  | { kind: 'file'; path: string; before: FileBefore | null; createdDirs: string[]; afterSha256: string }
  | { kind: 'symlink'; path: string; target: string; before: string | null; createdDirs: string[] }
  | { kind: 'command'; run: readonly string[]; undo: readonly string[]; scope: CommandScope };

export interface InstallRecord {
  version: 1;
  platform: InstallPlatform;
  changes: RecordedChange[];
  refreshes: Refresh[];
  services: CommandChange[];
}

export const RECORD_FILE_NAME = 'install-record.json';

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function allowed(scope: CommandScope, ctx: ExecuteContext): boolean {
  return scope === 'always' || (ctx.live && (scope === 'live' || ctx.serviceManager));
}

function keyOf(c: Change | RecordedChange): string {
  return c.kind === 'command' ? `command:${c.run.join('\u0000')}` : `${c.kind}:${c.path}`;
}

export async function readInstallRecord(file: string): Promise<InstallRecord | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as InstallRecord;
  if (parsed.version !== 1) throw new Error(`${file}: install record version ${String(parsed.version)} is not one this build reads; uninstall with the version that installed`);
  return parsed;
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Creates the missing parents of `file` (0755) and returns them, outermost first. */
async function makeParents(file: string): Promise<string[]> {
  const missing: string[] = [];
  for (let dir = path.dirname(file); !(await exists(dir)); dir = path.dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
  }
  return missing;
}

async function removeEmptyDirs(dirs: readonly string[], ctx: ExecuteContext): Promise<void> {
  for (const dir of [...dirs].reverse()) {
    try {
      if ((await readdir(dir)).length === 0) await rmdir(dir);
      else ctx.report(`kept ${dir}: something else was put in it since install`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

async function runChecked(argv: readonly string[], ctx: ExecuteContext, why: string): Promise<boolean> {
  const result = await ctx.run(argv);
  if (result.code === 127) {
    ctx.report(`skipped (${argv[0]} is not installed): ${why}`);
    return false;
  }
  if (result.code !== 0) {
    throw new Error(`\`${argv.join(' ')}\` (${why}) failed with exit code ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  ctx.report(`ran ${argv.join(' ')}: ${why}`);
  return true;
}

function reportNotRun(argv: readonly string[], ctx: ExecuteContext): void {
  ctx.report(`not run here (${ctx.live ? 'the service manager is not running' : 'not the live system'}): ${argv.join(' ')}`);
}

async function writeRecord(file: string, record: InstallRecord): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

async function applyFile(change: Extract<Change, { kind: 'file' }>, previous: RecordedChange | undefined): Promise<RecordedChange> {
  let before: FileBefore | null = null;
  let createdDirs: string[] = [];
  if (previous?.kind === 'file') {
    ({ before, createdDirs } = previous);
  } else if (await exists(change.path)) {
    const st = await lstat(change.path);
    if (!st.isFile()) throw new Error(`${change.path} exists and is not a regular file; move it away and run install again`);
    before = { base64: (await readFile(change.path)).toString('base64'), mode: st.mode & 0o7777 };
  } else {
    createdDirs = await makeParents(change.path);
  }
  await writeFile(change.path, change.content, { mode: change.mode });
  await chmod(change.path, change.mode);
  return { kind: 'file', path: change.path, before, createdDirs, afterSha256: sha256(change.content) };
}

async function applySymlink(change: Extract<Change, { kind: 'symlink' }>, previous: RecordedChange | undefined): Promise<RecordedChange> {
  let before: string | null = null;
  let createdDirs: string[] = [];
  if (previous?.kind === 'symlink') {
    ({ before, createdDirs } = previous);
  } else if (await exists(change.path)) {
    before = await readlink(change.path);
  } else {
    createdDirs = await makeParents(change.path);
  }
  if (await exists(change.path)) await unlink(change.path);
  await symlink(change.target, change.path);
  return { kind: 'symlink', path: change.path, target: change.target, before, createdDirs };
}

/** Applies `plan`; run again (an upgrade) it rewrites what changed and keeps what was there before the first install. */
export async function applyPlan(plan: InstallPlan, ctx: ExecuteContext): Promise<InstallRecord> {
  const old = await readInstallRecord(ctx.recordFile);
  const oldByKey = new Map((old?.changes ?? []).map((c) => [keyOf(c), c]));
  const record: InstallRecord = { version: 1, platform: plan.platform, changes: [], refreshes: plan.refreshes, services: plan.services };
  // Changes an earlier install made that this plan no longer makes stay recorded, so uninstall still takes them back.
  const planned = new Set(plan.changes.map(keyOf));
  record.changes.push(...(old?.changes ?? []).filter((c) => !planned.has(keyOf(c))));
  for (const change of plan.changes) {
    const previous = oldByKey.get(keyOf(change));
    if (change.kind === 'file') {
      record.changes.push(await applyFile(change, previous));
      ctx.report(`wrote ${change.path}: ${change.why}`);
    } else if (change.kind === 'symlink') {
      record.changes.push(await applySymlink(change, previous));
      ctx.report(`linked ${change.path} -> ${change.target}: ${change.why}`);
    } else if (!allowed(change.scope, ctx)) {
      reportNotRun(change.run, ctx);
    } else if (await runChecked(change.run, ctx, change.why)) {
      if (change.undo && previous === undefined) record.changes.push({ kind: 'command', run: change.run, undo: change.undo, scope: change.scope });
      else if (previous) record.changes.push(previous);
    }
    await writeRecord(ctx.recordFile, record);
  }
  for (const step of [...plan.refreshes, ...(ctx.start === false ? [] : plan.services)]) {
    if (allowed(step.scope, ctx)) await runChecked(step.run, ctx, step.why);
    else reportNotRun(step.run, ctx);
  }
  for (const note of plan.notes) ctx.report(`note: ${note}`);
  return record;
}

async function undoFile(c: Extract<RecordedChange, { kind: 'file' }>, ctx: ExecuteContext): Promise<void> {
  let current: Buffer | undefined;
  try {
    current = await readFile(c.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (current !== undefined && sha256(current) !== c.afterSha256) {
    // Someone edited it after install: overwriting their edit would lose work, so say so instead.
    ctx.report(`left ${c.path} as it is: it changed since install (restore it yourself if the change was not wanted)`);
    return;
  }
  if (c.before) {
    await writeFile(c.path, Buffer.from(c.before.base64, 'base64'), { mode: c.before.mode });
    await chmod(c.path, c.before.mode);
    ctx.report(`restored ${c.path}`);
  } else {
    await rm(c.path, { force: true });
    ctx.report(`removed ${c.path}`);
  }
  await removeEmptyDirs(c.createdDirs, ctx);
}

async function undoSymlink(c: Extract<RecordedChange, { kind: 'symlink' }>, ctx: ExecuteContext): Promise<void> {
  const current = await readlink(c.path).catch(() => undefined);
  if (current === c.target) await unlink(c.path);
  if (c.before !== null) await symlink(c.before, c.path);
  ctx.report(c.before === null ? `removed ${c.path}` : `restored ${c.path} -> ${c.before}`);
  await removeEmptyDirs(c.createdDirs, ctx);
}

/** Takes back everything the record holds, then deletes the record. Returns false when nothing was installed. */
export async function undoRecord(ctx: ExecuteContext): Promise<boolean> {
  const record = await readInstallRecord(ctx.recordFile);
  if (!record) return false;
  for (const service of [...record.services].reverse()) {
    if (service.undo && allowed(service.scope, ctx)) await runChecked(service.undo, ctx, `undo: ${service.why}`).catch((err: unknown) => ctx.report(`warning: ${(err as Error).message}`));
  }
  for (const c of [...record.changes].reverse()) {
    if (c.kind === 'file') await undoFile(c, ctx);
    else if (c.kind === 'symlink') await undoSymlink(c, ctx);
    else if (allowed(c.scope, ctx)) await runChecked(c.undo, ctx, `undo ${c.run.join(' ')}`).catch((err: unknown) => ctx.report(`warning: ${(err as Error).message}`));
    else ctx.report(`not undone here (not the live system): ${c.undo.join(' ')}`);
  }
  for (const refresh of record.refreshes) if (allowed(refresh.scope, ctx)) await runChecked(refresh.afterRemoval ?? refresh.run, ctx, refresh.why);
  await rm(ctx.recordFile, { force: true });
  return true;
}
