// Writes into users' homes and managed folders: atomic (temporary file in the same folder, then
// rename), keeping the file's mode and owner, never through a symlink to a file the home's owner
// does not own, never over a file larger than the limit, and never `~/.claude.json`.
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../lib/private-fs.ts';
import { checkSystemChain, type UserFs } from '../userfs/index.ts';
import { ConfigReadError, configErrorOf, walkFrom, type FileAccess } from './read-config.ts';

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
  mode: number;
  uid: number;
  gid: number;
  /** Where the file was read, so the write walks the same way as the same user. */
  fs: UserFs;
  anchor: string;
  rel: string;
}

/** Reads a file that is about to be edited, with the same checks as a write. */
export async function readForEdit(file: string, access: FileAccess): Promise<CurrentFile | undefined> {
  if (NEVER_WRITE.has(path.basename(file))) throw new RefusedWriteError(`${file}: Heimdall never writes this file (the app rewrites it in place)`);
  const where = walkFrom(file, access.anchor);
  let read;
  try {
    read = await access.fs.read(where.anchor, where.rel, { limit: access.sizeLimit });
  } catch (err) {
    throw new RefusedWriteError(configErrorOf(err).message);
  }
  if (!read) return undefined;
  if (access.ownerUid >= 0 && read.info.uid !== access.ownerUid) {
    throw new RefusedWriteError(new ConfigReadError('foreign-owner', `${file} is owned by uid ${read.info.uid}, not by the home's owner (uid ${access.ownerUid}); never written`).message);
  }
  if (read.kind !== 'bytes') throw new RefusedWriteError(`${file} is ${read.info.size} bytes, over the ${access.sizeLimit}-byte limit; never written`);
  return { bytes: read.bytes, mode: read.info.mode, uid: read.info.uid, gid: read.info.gid, fs: access.fs, anchor: where.anchor, rel: where.rel };
}

/** Replaces an existing user file (already read with readForEdit) keeping its mode, as its owner. */
export async function replaceUserFile(current: CurrentFile, data: Buffer | string): Promise<void> {
  try {
    await current.fs.replace(current.anchor, current.rel, Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8'), { mode: current.mode });
  } catch (err) {
    throw new RefusedWriteError(configErrorOf(err).message);
  }
}

/** Creates a user file that does not exist yet, as its owner along the same no-symlink walk, mode 0600 (it may repeat the user's own secrets). */
export async function createUserFile(file: string, data: string, access: Pick<FileAccess, 'fs' | 'anchor'>): Promise<void> {
  const where = walkFrom(file, access.anchor);
  try {
    await access.fs.replace(where.anchor, where.rel, Buffer.from(data, 'utf8'), { mode: 0o600 });
  } catch (err) {
    throw new RefusedWriteError(configErrorOf(err).message);
  }
}

/** Removes a user file Heimdall created (already read with readForEdit), as its owner along the same walk. */
export async function removeUserFile(current: CurrentFile): Promise<void> {
  try {
    await current.fs.remove(current.anchor, current.rel);
  } catch (err) {
    throw new RefusedWriteError(configErrorOf(err).message);
  }
}

export interface ManagedWriteOptions {
  /** Mode of a new file; managed policy must be readable by the users' apps. */
  mode?: number;
}

/**
 * Writes a root-owned managed policy file, creating its folder (0755) when missing, only when every
 * folder up to / is root's and writable by no one else (checked again after creating folders).
 */
export async function writeManagedFile(file: string, data: string, options: ManagedWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  if ((await checkSystemChain(dir)) !== dir) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await checkSystemChain(dir);
  }
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
  await checkSystemChain(path.dirname(file));
  await rm(file, { force: true });
}
