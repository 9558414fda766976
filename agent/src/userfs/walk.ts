// Opens folders and files below an anchor without following a symbolic link at any component, and
// names every later file operation relative to the folder that was checked. Three ways, one per OS:
//
// - `proc-fd` (Linux): Node has no openat(2), but a folder's descriptor is named
//   `/proc/self/fd/<n>`, and opening `/proc/self/fd/<n>/<name>` with O_NOFOLLOW resolves <name>
//   inside exactly that folder.
// - `at` (macOS): the native addon's openat/renameat/unlinkat (agent/native/sockdiag/fsat_posix.c)
//   with O_NOFOLLOW | O_DIRECTORY per component; the same guarantee as proc-fd. Tested on Linux,
//   where the addon has the same calls (test/userfs/walk-at.test.ts).
// - `by-path` (macOS without the addon): each prefix is opened by path with O_NOFOLLOW and compared
//   with what lstat saw; that narrows the race but does not close it, and the helper's dropped
//   credentials remain the defence. Windows walks by path too, checking each component with lstat;
//   there the helper runs with the user's own token (windows.ts), so the file system itself refuses
//   what the user may not touch.
//
// Swapping a parent for a symlink after the check changes nothing for proc-fd and at: the walk goes
// on from the folder it checked, whatever its path names now.
import { close, closeSync, constants, createReadStream, fchmod, fstat, fsync, write, type Stats } from 'node:fs';
import { lstat, open, readlink, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { loadSockdiagAddon } from '../lib/sockdiag-addon.ts';
import { UserFsError } from './types.ts';

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const DIRECTORY = constants.O_DIRECTORY ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;

/** The addon's *at calls (fsat_posix.c); they throw Errors whose `code` is the errno name. */
export interface AtOps {
  openat(dirfd: number, name: string, flags: number, mode: number): number;
  renameat(dirfd: number, from: string, to: string): void;
  unlinkat(dirfd: number, name: string): void;
}

export type WalkKind = 'proc-fd' | 'at' | 'by-path' | 'windows';

/** An open folder: its descriptor (none on Windows) and the path it was reached by (for messages). */
export interface OpenDir {
  fd: number | undefined;
  shown: string;
  close(): Promise<void>;
}

/** What the file work needs of an open file: a FileHandle, or a raw descriptor from openat. */
export interface OpenFile {
  stat(): Promise<Stats>;
  readFile(): Promise<Buffer>;
  writeFile(data: Buffer): Promise<void>;
  chmod(mode: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
  createReadStream(options: { highWaterMark: number; autoClose: false }): Readable;
}

/** A raw descriptor (from openat) with the FileHandle methods the file work uses. */
class FdFile implements OpenFile {
  readonly #fd: number;
  #closed = false;
  constructor(fd: number) {
    this.#fd = fd;
  }
  stat(): Promise<Stats> {
    return promisify(fstat)(this.#fd);
  }
  async readFile(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of this.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false })) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  async writeFile(data: Buffer): Promise<void> {
    for (let at = 0; at < data.length; ) at += await new Promise<number>((resolve, reject) => write(this.#fd, data, at, data.length - at, null, (err, n) => (err ? reject(err) : resolve(n))));
  }
  chmod(mode: number): Promise<void> {
    return promisify(fchmod)(this.#fd, mode);
  }
  sync(): Promise<void> {
    return promisify(fsync)(this.#fd);
  }
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return promisify(close)(this.#fd);
  }
  createReadStream(options: { highWaterMark: number; autoClose: false }): Readable {
    return createReadStream('', { fd: this.#fd, ...options });
  }
}

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

/** Turns an open(2) failure on `shown` into undefined (missing) or a UserFsError. */
export async function classifyOpenError(err: unknown, opened: string, shown: string): Promise<undefined> {
  const code = errno(err);
  if (code === 'ELOOP' || code === 'ENOTDIR' || code === 'EMLINK') {
    let st: Stats | undefined;
    try {
      st = await lstat(opened);
    } catch {
      st = undefined;
    }
    if (code === 'ELOOP' || st?.isSymbolicLink()) {
      let target = '';
      try {
        target = ` (to ${await readlink(opened)})`;
      } catch {
        // gone meanwhile: the link itself is what is reported
      }
      throw new UserFsError('symlink', `${shown} is a symbolic link${target}; Heimdall follows no symbolic link in a home directory: not read and never written`);
    }
    if (code === 'ENOTDIR') return undefined; // a file where a folder was expected: nothing configured there
  }
  if (code === 'ENOENT') return undefined;
  if (code === 'EACCES' || code === 'EPERM') throw new UserFsError('denied', `${shown}: the user may not open it (${code}); not read and never written`);
  if (code === 'ENXIO' || code === 'EISDIR') throw new UserFsError('not-a-file', `${shown} is not a regular file; not read`);
  throw new UserFsError('io', `${shown}: cannot open (${code})`);
}

/** Splits a relative path into components, refusing `..` and absolute paths (a caller's bug, never data). */
export function components(rel: string): string[] {
  const parts = rel.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (path.isAbsolute(rel) || parts.some((p) => p === '..')) throw new UserFsError('io', `${rel}: expected a path relative to its folder without ".."`);
  return parts;
}

function fromHandle(handle: FileHandle, shown: string): OpenDir {
  return { fd: handle.fd, shown, close: () => handle.close() };
}

function fromFd(fd: number, shown: string): OpenDir {
  let closed = false;
  return {
    fd,
    shown,
    close: () => {
      if (!closed) {
        closed = true;
        closeSync(fd);
      }
      return Promise.resolve();
    },
  };
}

/** The walk for one OS (`walkFor` picks it). */
export class Walker {
  readonly kind: WalkKind;
  readonly #at: AtOps | undefined;

  constructor(kind: WalkKind, at?: AtOps) {
    if (kind === 'at' && !at) throw new Error('the at walk needs the addon\'s openat, renameat and unlinkat');
    this.kind = kind;
    this.#at = at;
  }

  /** The path by which `name` inside `dir` is opened: relative to its descriptor for proc-fd, a plain path otherwise (for messages and by-path). */
  #childPath(dir: OpenDir, name: string): string {
    return this.kind === 'proc-fd' && dir.fd !== undefined ? `/proc/self/fd/${dir.fd}/${name}` : path.join(dir.shown, name);
  }

  /**
   * Opens `anchor` (the ordinary way: a home or project folder as the system names it) and then each
   * of `dirs` below it with O_NOFOLLOW. Undefined when a folder is missing. The caller closes it.
   */
  async openDir(anchor: string, dirs: readonly string[]): Promise<OpenDir | undefined> {
    if (this.kind === 'windows') return checkDirsByPath(anchor, dirs);
    let dir: OpenDir;
    try {
      dir = fromHandle(await open(anchor, constants.O_RDONLY | DIRECTORY), anchor);
    } catch (err) {
      return classifyOpenError(err, anchor, anchor);
    }
    for (const name of dirs) {
      const opened = this.#childPath(dir, name);
      const shown = path.join(dir.shown, name);
      let next: OpenDir;
      try {
        next = await this.#openChildDir(dir, name, opened, shown);
      } catch (err) {
        // Classified while the folder is still open: its /proc/self/fd name dies with it.
        try {
          if (err instanceof UserFsError) throw err;
          return await classifyOpenError(err, opened, shown);
        } finally {
          await dir.close();
        }
      }
      await dir.close();
      dir = next;
    }
    return dir;
  }

  async #openChildDir(dir: OpenDir, name: string, opened: string, shown: string): Promise<OpenDir> {
    if (this.kind === 'at') return fromFd(this.#at!.openat(dir.fd!, name, constants.O_RDONLY | DIRECTORY | NOFOLLOW, 0), shown);
    const next = fromHandle(await open(opened, constants.O_RDONLY | DIRECTORY | NOFOLLOW), shown);
    if (this.kind === 'by-path') await sameAsLstat(next, shown);
    return next;
  }

  /** Opens the file `name` in `dir` for reading, refusing a symbolic link and never blocking on a FIFO. */
  async openFile(dir: OpenDir, name: string): Promise<OpenFile | undefined> {
    const opened = this.#childPath(dir, name);
    try {
      if (this.kind === 'at') return new FdFile(this.#at!.openat(dir.fd!, name, constants.O_RDONLY | NOFOLLOW | NONBLOCK, 0));
      if (this.kind === 'windows' && (await lstat(opened)).isSymbolicLink()) throw Object.assign(new Error('a link'), { code: 'ELOOP' });
      return await open(opened, constants.O_RDONLY | NOFOLLOW | NONBLOCK);
    } catch (err) {
      return classifyOpenError(err, opened, path.join(dir.shown, name));
    }
  }

  /** Creates `name` in `dir`, failing when anything (a link included) is already there. */
  async createExclusive(dir: OpenDir, name: string, mode: number): Promise<OpenFile> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW;
    if (this.kind === 'at') return new FdFile(this.#at!.openat(dir.fd!, name, flags, mode & 0o777));
    return open(this.#childPath(dir, name), flags, mode & 0o777);
  }

  /** Renames `from` to `to`, both inside the walked folder whatever its path names now. */
  async rename(dir: OpenDir, from: string, to: string): Promise<void> {
    if (this.kind === 'at') return this.#at!.renameat(dir.fd!, from, to);
    await rename(this.#childPath(dir, from), this.#childPath(dir, to));
  }

  /** Removes `name` (a link itself, never its target) from the walked folder. */
  async unlink(dir: OpenDir, name: string): Promise<void> {
    if (this.kind === 'at') return this.#at!.unlinkat(dir.fd!, name);
    await unlink(this.#childPath(dir, name));
  }

  /** A name for `name` in `dir` in messages. */
  shown(dir: OpenDir, name: string): string {
    return path.join(dir.shown, name);
  }
}

async function checkDirsByPath(anchor: string, dirs: readonly string[]): Promise<OpenDir | undefined> {
  let shown = anchor;
  for (const name of dirs) {
    shown = path.join(shown, name);
    let st: Stats;
    try {
      st = await lstat(shown);
    } catch (err) {
      return classifyOpenError(err, shown, shown);
    }
    if (st.isSymbolicLink()) throw new UserFsError('symlink', `${shown} is a symbolic link; Heimdall follows no symbolic link in a home directory: not read and never written`);
    if (!st.isDirectory()) return undefined;
  }
  return { fd: undefined, shown, close: () => Promise.resolve() };
}

async function sameAsLstat(dir: OpenDir, shown: string): Promise<void> {
  const [a, b] = await Promise.all([promisify(fstat)(dir.fd!), lstat(shown)]);
  if (a.dev !== b.dev || a.ino !== b.ino) {
    await dir.close();
    throw new UserFsError('symlink', `${shown} changed while it was opened (a folder swapped for a link?); not read and never written`);
  }
}

/** The addon's *at calls when this build has them. */
export function loadAtOps(): AtOps | undefined {
  const a = loadSockdiagAddon() as Partial<AtOps> | undefined;
  return typeof a?.openat === 'function' && typeof a.renameat === 'function' && typeof a.unlinkat === 'function' ? (a as AtOps) : undefined;
}

/** The walk this OS gets: proc-fd on Linux, at on macOS (by-path without the addon), windows on Windows. */
export function walkFor(platform: NodeJS.Platform = process.platform): Walker {
  if (platform === 'linux') return new Walker('proc-fd');
  if (platform === 'win32') return new Walker('windows');
  const at = loadAtOps();
  return at ? new Walker('at', at) : new Walker('by-path');
}
