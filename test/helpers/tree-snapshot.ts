// A directory tree as lines of path, type, mode and content hash (or link target): two snapshots
// that are equal mean the same files with the same modes and bytes.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export function snapshotTree(root: string, skip: (relative: string) => boolean = () => false): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (skip(rel)) continue;
      const st = lstatSync(full);
      const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
      if (st.isSymbolicLink()) out.set(rel, `link ${mode} -> ${readlinkSync(full)}`);
      else if (st.isDirectory()) {
        out.set(rel, `dir ${mode} ${st.uid}:${st.gid}`);
        walk(full);
      } else if (st.isFile()) out.set(rel, `file ${mode} ${st.uid}:${st.gid} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
      else out.set(rel, `other ${mode}`);
    }
  };
  walk(root);
  return out;
}

/** Lines that differ between two snapshots ("+ added", "- removed", "~ changed"), for a readable failure. */
export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [p, v] of before) if (!after.has(p)) lines.push(`- ${p} ${v}`);
  else if (after.get(p) !== v) lines.push(`~ ${p} ${v} => ${after.get(p)}`);
  for (const [p, v] of after) if (!before.has(p)) lines.push(`+ ${p} ${v}`);
  return lines;
}
