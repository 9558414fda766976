// File-system helpers for root-only state: private directories and files, and atomic replacement.
import { chmod, lstat, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and parents) if missing and makes it 0700; a looser existing mode is tightened. */
export function ensurePrivateDirSync(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = statSync(dir);
  if (!st.isDirectory()) throw new Error(`state directory ${dir} exists but is not a directory`);
  if (process.platform !== 'win32' && (st.mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(dir, PRIVATE_DIR_MODE);
}

export async function ensurePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new Error(`state directory ${dir} exists but is not a directory`);
  if (process.platform !== 'win32' && (st.mode & 0o777) !== PRIVATE_DIR_MODE) await chmod(dir, PRIVATE_DIR_MODE);
}

export interface AtomicWriteOptions {
  mode?: number;
  /** Owner to give the new file (root writing into a user's home keeps the user's ownership). */
  uid?: number;
  gid?: number;
}

/**
 * Replaces `file` with `data` so readers see the old or the new content, never a half-written one:
 * a temporary file in the same directory, fsync, then rename over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', options.mode ?? PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(data);
    if (options.mode !== undefined) await handle.chmod(options.mode);
    if (options.uid !== undefined && options.gid !== undefined) await handle.chown(options.uid, options.gid);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** True when `file` is a symbolic link (lstat), false when it is anything else or missing. */
export async function isSymlink(file: string): Promise<boolean> {
  try {
    return (await lstat(file)).isSymbolicLink();
  } catch {
    return false;
  }
}
