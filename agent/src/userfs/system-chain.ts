// Files the daemon owns outside any home (the apps' managed policy under /etc, /Library, ...) are
// written only where no one but root can change the path: every folder from the file's up to / is
// root's, not a symbolic link, and not writable by group or others (a root-owned sticky folder such
// as /tmp is accepted: there only an entry's owner may rename or remove it).
import { lstat } from 'node:fs/promises';
import path from 'node:path';

export class UnsafeSystemPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeSystemPathError';
  }
}

/** Owners a system folder may have: root, and the daemon's own user when it is not root (development). */
function trustedOwners(): Set<number> {
  const me = typeof process.getuid === 'function' ? process.getuid() : 0;
  return new Set([0, me]);
}

/**
 * Checks `dir` and every ancestor; returns the deepest folder that exists (missing ones are for the
 * caller to create, 0755, and check again). Throws UnsafeSystemPathError naming the first bad folder.
 */
export async function checkSystemChain(dir: string): Promise<string> {
  if (process.platform === 'win32') return dir; // ACLs, not modes: checked by the installer's folder ACLs
  const owners = trustedOwners();
  let existing: string | undefined;
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let st;
    try {
      st = await lstat(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || existing !== undefined) throw err;
      if (d === path.dirname(d)) break;
      continue;
    }
    existing ??= d;
    const why = st.isSymbolicLink()
      ? 'is a symbolic link'
      : !st.isDirectory()
        ? 'is not a folder'
        : !owners.has(st.uid)
          ? `is owned by uid ${st.uid}, not root`
          : (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0
            ? `is writable by ${st.mode & 0o020 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8)})`
            : undefined;
    if (why) throw new UnsafeSystemPathError(`${d} ${why}: Heimdall writes managed policy only where no one but root can change the path; fix the folder or remove it`);
    if (d === path.dirname(d)) break;
  }
  return existing ?? dir;
}
