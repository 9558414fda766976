// Writes into users' homes and managed folders: atomic (temporary file in the same folder, then
// rename), keeping the file's mode and owner, never through a symlink to a file the home's owner
// does not own, never over a file larger than the limit, and never `~/.claude.json`.
import { constants } from 'node:fs';
import { link, lstat, mkdir, open, readFile, rm, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { writeFileAtomic } from '../lib/private-fs.ts';
import { checkFile, ConfigReadError, type FileAccess } from './read-config.ts';

/** Claude Code rewrites `~/.claude.json` in place at any time: a write from us would race it. */
const NEVER_WRITE = new Set(['.claude.json']);

export class RefusedWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedWriteError';
  }
}

export interface CurrentFile {
  bytes: Buffer;
  realPath: string;
  mode: number;
  uid: number;
  gid: number;
}

/** Reads a file that is about to be edited, with the same checks as a write. */
export async function readForEdit(file: string, access: FileAccess): Promise<CurrentFile | undefined> {
  if (NEVER_WRITE.has(path.basename(file))) throw new RefusedWriteError(`${file}: Heimdall never writes this file (the app rewrites it in place)`);
  let checked;
  try {
    checked = await checkFile(file, access);
  } catch (err) {
    if (err instanceof ConfigReadError) throw new RefusedWriteError(err.message);
    throw err;
  }
  if (!checked) return undefined;
  if (checked.size > access.sizeLimit) throw new RefusedWriteError(`${file} is ${checked.size} bytes, over the ${access.sizeLimit}-byte limit; never written`);
  return { bytes: await readFile(checked.realPath), realPath: checked.realPath, mode: checked.mode, uid: checked.uid, gid: checked.gid };
}

/** Replaces an existing user file (already read with readForEdit) keeping its mode and owner. */
export async function replaceUserFile(current: CurrentFile, data: Buffer | string): Promise<void> {
  const chown = process.platform !== 'win32' && typeof process.getuid === 'function' && process.getuid() === 0;
  await writeFileAtomic(current.realPath, data, chown ? { mode: current.mode, uid: current.uid, gid: current.gid } : { mode: current.mode });
}

/**
 * Creates a file that does not exist yet in a user's folder, owned by that user, mode 0600 (it may
 * repeat the user's own secrets). The folder must be a real directory (not a symbolic link) owned
 * by the user; the file appears whole (written under a temporary name, then linked: never over a
 * file that appeared meanwhile).
 */
export async function createUserFile(file: string, data: string, owner: { uid: number; gid: number }): Promise<void> {
  const dir = path.dirname(file);
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    throw new RefusedWriteError(`${dir} does not exist (${(err as NodeJS.ErrnoException).code ?? 'unknown'}); ${path.basename(file)} not created`);
  }
  if (!st.isDirectory()) throw new RefusedWriteError(`${dir} is not a directory (a symbolic link?); ${path.basename(file)} not created`);
  if (owner.uid >= 0 && st.uid !== owner.uid) throw new RefusedWriteError(`${dir} is owned by uid ${st.uid}, not by the home's owner (uid ${owner.uid}); ${path.basename(file)} not created`);
  const tmp = path.join(dir, `.${path.basename(file)}.heimdall-${randomBytes(6).toString('hex')}`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  try {
    await handle.writeFile(data);
    if (process.platform !== 'win32' && process.getuid?.() === 0 && owner.uid >= 0) await handle.chown(owner.uid, owner.gid);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(tmp, file);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Removes a user file Heimdall created (already read with readForEdit, so checked like a write). */
export async function removeUserFile(current: CurrentFile): Promise<void> {
  await rm(current.realPath, { force: true });
}

export interface ManagedWriteOptions {
  /** Mode of a new file; managed policy must be readable by the users' apps. */
  mode?: number;
}

/** Writes a root-owned managed policy file, creating its folder (0755) when missing. */
export async function writeManagedFile(file: string, data: string, options: ManagedWriteOptions = {}): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await writeFileAtomic(file, data, { mode: options.mode ?? 0o644 });
}

export async function readManagedFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export async function removeManagedFile(file: string): Promise<void> {
  await rm(file, { force: true });
}
