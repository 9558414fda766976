// Opens folders and files below an anchor without following a symbolic link at any component.
// Node has no openat(2); on Linux a folder's descriptor is named `/proc/self/fd/<n>`, and opening
// `/proc/self/fd/<n>/<name>` with O_NOFOLLOW resolves <name> inside exactly that folder: the walk
// continues from the folder it checked, so swapping a parent for a symlink after the check changes
// nothing. Elsewhere (macOS) each prefix is opened with O_NOFOLLOW and the opened folder is compared
// with what lstat saw; that narrows but does not close the race, and the helper's dropped
// credentials remain the defence there (docs/security.md). Windows opens no folder (its links are
// reparse points): each component is checked with lstat before use, a best effort until the helper
// impersonates the user there.
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { UserFsError } from './types.ts';

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const DIRECTORY = constants.O_DIRECTORY ?? 0;
const NONBLOCK = constants.O_NONBLOCK ?? 0;
const PROC_FD = process.platform === 'linux';
const WINDOWS = process.platform === 'win32';

/** An open folder: its descriptor and the path it was reached by (for messages). */
export interface OpenDir {
  /** Absent on Windows, where folders are named by path. */
  handle: FileHandle | undefined;
  shown: string;
}

/** Closes the folder's descriptor, if it has one. */
export async function closeDir(dir: OpenDir): Promise<void> {
  await dir.handle?.close();
}

/** The name by which `name` inside `dir` is opened, relative to the folder's descriptor where the OS allows. */
export function childPath(dir: OpenDir, name: string): string {
  return PROC_FD && dir.handle ? `/proc/self/fd/${dir.handle.fd}/${name}` : path.join(dir.shown, name);
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

/**
 * Opens `anchor` (the ordinary way: a home or project folder as the system names it) and then each
 * of `dirs` below it with O_NOFOLLOW. Undefined when a folder is missing. The caller closes it.
 */
export async function openDirNoFollow(anchor: string, dirs: readonly string[]): Promise<OpenDir | undefined> {
  if (WINDOWS) return checkDirsByPath(anchor, dirs);
  let dir: OpenDir;
  try {
    dir = { handle: await open(anchor, constants.O_RDONLY | DIRECTORY), shown: anchor };
  } catch (err) {
    return classifyOpenError(err, anchor, anchor);
  }
  for (const name of dirs) {
    const opened = childPath(dir, name);
    const shown = path.join(dir.shown, name);
    let next: OpenDir;
    try {
      next = { handle: await open(opened, constants.O_RDONLY | DIRECTORY | NOFOLLOW), shown };
      if (!PROC_FD) await sameAsLstat(next, shown);
    } catch (err) {
      // Classified while the folder is still open: its /proc/self/fd name dies with it.
      try {
        if (err instanceof UserFsError) throw err;
        return await classifyOpenError(err, opened, shown);
      } finally {
        await closeDir(dir);
      }
    }
    await closeDir(dir);
    dir = next;
  }
  return dir;
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
  return { handle: undefined, shown };
}

async function sameAsLstat(dir: OpenDir, shown: string): Promise<void> {
  if (!dir.handle) return;
  const [a, b] = await Promise.all([dir.handle.stat(), lstat(shown)]);
  if (a.dev !== b.dev || a.ino !== b.ino) {
    await dir.handle.close();
    throw new UserFsError('symlink', `${shown} changed while it was opened (a folder swapped for a link?); not read and never written`);
  }
}

/** Opens the file `name` in `dir` for reading, refusing a symbolic link and never blocking on a FIFO. */
export async function openFileNoFollow(dir: OpenDir, name: string): Promise<FileHandle | undefined> {
  const opened = childPath(dir, name);
  try {
    if (WINDOWS && (await lstat(opened)).isSymbolicLink()) throw Object.assign(new Error('a link'), { code: 'ELOOP' });
    return await open(opened, constants.O_RDONLY | NOFOLLOW | NONBLOCK);
  } catch (err) {
    return classifyOpenError(err, opened, path.join(dir.shown, name));
  }
}

export { NOFOLLOW };
