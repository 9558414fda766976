// Writes a payload into a staging folder with exact modes and one fixed mtime (reproducible archives).
import { chmod, copyFile, lstat, mkdir, readdir, rm, symlink, utimes, writeFile, lutimes } from 'node:fs/promises';
import path from 'node:path';
import type { PayloadFile, PayloadLink } from './types.ts';

export async function stagePayload(dir: string, payload: { files: readonly PayloadFile[]; links: readonly PayloadLink[]; dirs?: readonly string[] }, epoch: number): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const d of payload.dirs ?? []) await mkdir(path.join(dir, d), { recursive: true, mode: 0o755 });
  for (const f of payload.files) {
    const target = path.join(dir, f.path);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    if (typeof f.content === 'object' && 'from' in f.content) await copyFile(f.content.from, target);
    else await writeFile(target, f.content);
    await chmod(target, f.mode);
  }
  for (const l of payload.links) {
    const target = path.join(dir, l.path);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    await symlink(l.target, target);
  }
  await fixTimes(dir, epoch);
}

/** Every entry under `dir` gets mtime `epoch`; folders 0755 (umask-independent). */
export async function fixTimes(dir: string, epoch: number): Promise<void> {
  for (const name of await readdir(dir)) {
    const p = path.join(dir, name);
    const st = await lstat(p);
    if (st.isDirectory()) {
      await chmod(p, 0o755);
      await fixTimes(p, epoch);
    }
    if (st.isSymbolicLink()) await lutimes(p, epoch, epoch);
    else await utimes(p, epoch, epoch);
  }
  await utimes(dir, epoch, epoch);
}
