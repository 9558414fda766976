// Is a process that matched a catalog row really that app? The row's `proof` column says what counts
// (catalog.ts, Proof); this file checks it. A name is not proof: anyone can copy curl to ~/bin/claude.
// What an unprivileged user cannot forge cheaply is a file that only root can write, in a folder
// chain only root can write, or a vendor's code signature checked by the OS.
import { lstatSync, readlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { systemClock, type Clock } from '../../../lib/index.ts';
import type { CatalogApp, InterpreterRule, OsName, Proof, ProofKind } from './catalog.ts';
import type { ProcessIdentity } from './types.ts';

export interface Verification {
  verified: boolean;
  /** The proof that held, when verified. */
  proof?: ProofKind;
  /** Why not, in words for logs and support, when unverified. */
  why?: string;
}

/** The owner, group and mode an lstat gives: all the walk needs. */
interface FileFacts {
  uid: number;
  gid: number;
  mode: number;
  isDirectory(): boolean;
  isFile(): boolean;
  isSymbolicLink(): boolean;
}

/**
 * Only root can change it: owned by uid 0, not writable by others, and writable by its group only
 * when that group is root's. (A group-writable folder of `staff` or `admin` lets those users in.)
 */
export function onlyRootCanWrite(st: Pick<FileFacts, 'uid' | 'gid' | 'mode'>): boolean {
  return st.uid === 0 && (st.mode & 0o002) === 0 && ((st.mode & 0o020) === 0 || st.gid === 0);
}

const MAX_SYMLINKS = 40;

export type RootPathResult = { ok: true; real: string } | { ok: false; why: string };

/**
 * Folders already found writable only by root, so a walk need not lstat them again: only root can
 * change such a folder's owner or mode, or (its parent being root's too) what its name points at,
 * so a verdict holds until root acts; kept for the checker's period like every other answer. Only
 * real folders are kept (never a symlink's name), keyed by their path with every link resolved.
 */
export interface RootFolders {
  has(folder: string): boolean;
  add(folder: string): void;
}

/**
 * Walks an absolute path from `/` one component at a time without following anything unchecked:
 * every directory passed through and the final file must be writable only by root, and a symlink
 * is followed only when the folder holding it is (so the user cannot have put it there or change it
 * later). Answers the real path of the file, or why not. A path that is not absolute proves nothing
 * (it depends on a working directory the process can change after it loaded its code).
 *
 * Synchronous on purpose: it runs per new executable on the connection's path, and lstat of a
 * cached dentry takes microseconds while a round trip through libuv's thread pool takes tens to
 * hundreds under load (the identification benchmark, docs/performance.md). The final file is
 * lstat'ed on every check; folders in `folders` are not.
 */
export function walkRootOnlyPath(file: string, folders?: RootFolders): RootPathResult {
  if (!path.posix.isAbsolute(file)) return { ok: false, why: `${JSON.stringify(file)} is not an absolute path` };
  let current = '/';
  let rest = file.split('/').filter((c) => c !== '' && c !== '.');
  let hops = 0;
  try {
    if (!folders?.has('/')) {
      if (!onlyRootCanWrite(lstatSync('/'))) return { ok: false, why: '/ is writable by someone other than root' };
      folders?.add('/');
    }
    while (rest.length > 0) {
      const name = rest.shift()!;
      if (name === '..') {
        current = path.posix.dirname(current);
        continue;
      }
      const next = path.posix.join(current, name);
      if (rest.length > 0 && folders?.has(next)) {
        current = next;
        continue;
      }
      const st: FileFacts = lstatSync(next);
      if (st.isSymbolicLink()) {
        // The link lives in `current`, already known to be root's: root made it, only root changes it.
        if (++hops > MAX_SYMLINKS) return { ok: false, why: `too many symbolic links under ${file}` };
        const target = readlinkSync(next);
        const parts = target.split('/').filter((c) => c !== '' && c !== '.');
        if (path.posix.isAbsolute(target)) current = '/';
        rest = [...parts, ...rest];
        continue;
      }
      if (!onlyRootCanWrite(st)) return { ok: false, why: `${next} can be changed by someone other than root` };
      if (rest.length > 0 && !st.isDirectory()) return { ok: false, why: `${next} is not a folder` };
      if (rest.length === 0 && !st.isFile()) return { ok: false, why: `${next} is not a regular file` };
      if (st.isDirectory()) folders?.add(next);
      current = next;
    }
  } catch (err) {
    return { ok: false, why: `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  return { ok: true, real: current };
}

/** walkRootOnlyPath with no remembered folders (every component lstat'ed). */
export function checkRootOnlyPath(file: string): Promise<RootPathResult> {
  return Promise.resolve(walkRootOnlyPath(file));
}

const PACKAGE_JSON_MAX_BYTES = 1024 * 1024;

/** The `name` of a package.json, read through a handle of at most 1 MB; undefined when unreadable or not JSON. */
async function packageName(file: string): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(file, 'r');
    const { size } = await handle.stat();
    if (size > PACKAGE_JSON_MAX_BYTES) return undefined;
    const parsed = JSON.parse(await handle.readFile('utf8')) as { name?: unknown };
    return typeof parsed.name === 'string' ? parsed.name : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/**
 * The program lies inside `node_modules/<name>/` (its real path, already checked to be root's), and
 * that package's package.json is root's and names it. Answers why not, or undefined when it holds.
 */
async function checkNpmPackage(realProgram: string, name: string, checker: RootPathChecker): Promise<string | undefined> {
  const marker = `/node_modules/${name}/`;
  const at = realProgram.lastIndexOf(marker);
  if (at < 0) return `${realProgram} is not inside node_modules/${name}`;
  const manifest = `${realProgram.slice(0, at + marker.length)}package.json`;
  const checked = await checker.check(manifest);
  if (!checked.ok) return checked.why;
  // A root-only package.json changes only when root changes it: its name is read once per check
  // period, like the path (checker.packageName).
  const found = await checker.packageName(checked.real);
  return found === name ? undefined : `${manifest} names ${found === undefined ? 'no package' : JSON.stringify(found)}, not ${JSON.stringify(name)}`;
}

/** What identified the process: its executable, or an interpreter running a script. */
export type MatchedProgram = { type: 'executable'; exe: string } | { type: 'script'; interpreter: string; rule: InterpreterRule; argv: readonly string[]; script: string } | { type: 'signature' };

/** True when the interpreter was told to load code of the caller's choosing before the script. */
export function preloadsCode(rule: InterpreterRule, argv: readonly string[], script: string): boolean {
  const end = argv.indexOf(script, 1);
  return argv.slice(1, end < 0 ? argv.length : end).some((arg) => rule.preloads?.some((p) => arg === p || arg.startsWith(`${p}=`)) === true);
}

/**
 * Path checks for the app identity proofs. The final file is lstat'ed on every check (microseconds:
 * a replaced or re-owned executable is seen at once); the folders on its way that were found
 * root-only are remembered for a while (a minute by default): only root can undo a root-only
 * folder, so a yes stays true until root acts, and root's change waits at most that long. A new
 * executable in a known folder then costs one lstat, not one per component. A package.json's name
 * is cached the same way (it lies in a root-only tree).
 */
export class RootPathChecker {
  readonly #folders = new Map<string, number>();
  readonly #names = new Map<string, { name: string | undefined; at: number }>();
  readonly #ttlMs: number;
  readonly #limit: number;
  readonly #clock: Clock;
  readonly #remembered: RootFolders;

  constructor(options: { ttlMs?: number; limit?: number; clock?: Clock } = {}) {
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#limit = options.limit ?? 512;
    this.#clock = options.clock ?? systemClock;
    this.#remembered = {
      has: (folder) => {
        const at = this.#folders.get(folder);
        return at !== undefined && this.#clock.now() - at < this.#ttlMs;
      },
      add: (folder) => {
        this.#folders.delete(folder);
        this.#folders.set(folder, this.#clock.now());
        if (this.#folders.size > this.#limit) this.#folders.delete(this.#folders.keys().next().value!);
      },
    };
  }

  /** The `name` in a package.json already found root-only, cached like the folders. */
  async packageName(manifest: string): Promise<string | undefined> {
    const hit = this.#names.get(manifest);
    if (hit && this.#clock.now() - hit.at < this.#ttlMs) return hit.name;
    const name = await packageName(manifest);
    this.#names.delete(manifest);
    this.#names.set(manifest, { name, at: this.#clock.now() });
    if (this.#names.size > this.#limit) this.#names.delete(this.#names.keys().next().value!);
    return name;
  }

  check(file: string): Promise<RootPathResult> {
    return Promise.resolve(walkRootOnlyPath(file, this.#remembered));
  }
}

/**
 * Checks the row's proofs for this OS against the process, in the row's order; the first that holds
 * is the answer. `program` says what matched the row: `signature` when resolve-app.ts matched it by
 * a valid code identity (the signature is checked there), else the executable or the script.
 */
export async function verifyIdentity(
  app: CatalogApp,
  platform: OsName,
  identity: ProcessIdentity,
  program: MatchedProgram,
  checker: RootPathChecker,
): Promise<Verification> {
  const proofs: readonly Proof[] = app.proof?.[platform] ?? [];
  if (proofs.length === 0) return { verified: false, why: `nothing proves ${app.displayName} on ${platform}` };
  // Paths prove nothing for a process that sees another file system than the daemon does.
  const pathsMeanWhatTheySay = platform !== 'linux' || identity.sharesFileView === true;
  const whys: string[] = [];
  for (const proof of proofs) {
    if (proof.kind === 'code-signature') {
      if (program.type === 'signature') return { verified: true, proof: proof.kind };
      whys.push(`no valid ${app.vendor} code signature`);
      continue;
    }
    if (!pathsMeanWhatTheySay) {
      whys.push('the process runs in a user namespace of its own, where it can mount any file over any path');
      continue;
    }
    if (program.type === 'signature') continue;
    const files = program.type === 'executable' ? [program.exe] : [program.interpreter, program.script];
    if (program.type === 'script' && preloadsCode(program.rule, program.argv, program.script)) {
      whys.push(`${program.rule.name} was told to load other code before the script`);
      continue;
    }
    const checked = await Promise.all(files.map((f) => checker.check(f)));
    const failed = checked.find((c): c is { ok: false; why: string } => !c.ok);
    if (failed) {
      whys.push(failed.why);
      continue;
    }
    if (proof.kind === 'root-owned-path') return { verified: true, proof: proof.kind };
    // The program is the last file checked: the executable, or the script an interpreter runs.
    const last = checked.at(-1) as { ok: true; real: string };
    const why = await checkNpmPackage(last.real, proof.name, checker);
    if (why === undefined) return { verified: true, proof: proof.kind };
    whys.push(why);
  }
  return { verified: false, why: [...new Set(whys)].join('; ') };
}
