// Writes into users' homes and managed folders: atomic (temporary file in the same folder, then
// rename), keeping the file's mode and owner, never through a symlink to a file the home's owner
// does not own, never over a file larger than the limit, and never `~/.claude.json`.
import { mkdir, readFile, rm } from 'node:fs/promises';
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
