// Who is on the other end of a local API connection. Node exposes no SO_PEERCRED, so on Linux the
// peer is found the way `ss` sees it: our socket's inode -> the peer socket -> the process holding it.
import { execFile } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import type { Socket } from 'node:net';

export interface LocalCaller {
  pid: number;
  uid: number;
  /** Primary user name, when the uid resolves to one. */
  user?: string;
}

export type CallerResolver = (socket: Socket) => Promise<LocalCaller | undefined>;

export interface UnixSocketPeer {
  inode: number;
  peerInode: number;
  pids: number[];
}

/**
 * Parses `ss -xpnH` output: one line per unix socket with its inode, its peer's inode and the
 * processes holding it (`users:(("curl",pid=42,fd=3))`).
 */
export function parseSsUnixOutput(output: string): UnixSocketPeer[] {
  const rows: UnixSocketPeer[] = [];
  for (const line of output.split('\n')) {
    // Netid State Recv-Q Send-Q LocalAddr(path or *) Inode PeerAddr PeerInode [users:(...)]; a path may hold spaces.
    const m = /^u_\S+\s+\S+\s+\d+\s+\d+\s+.*?\s(\d+)\s+\S+\s+(\d+)(?:\s+users:\((.*)\))?\s*$/.exec(line.trim());
    if (!m) continue;
    const pids = [...(m[3] ?? '').matchAll(/pid=(\d+)/g)].map((p) => Number(p[1]));
    rows.push({ inode: Number(m[1]), peerInode: Number(m[2]), pids });
  }
  return rows;
}

export function parseStatusUid(status: string): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

export function parsePasswdName(passwd: string, uid: number): string | undefined {
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && Number(f[2]) === uid) return f[0];
  }
  return undefined;
}

function runSs(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-xpnH'], { timeout: 3000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout) => (err ? reject(new Error(`ss failed: ${err.message}`)) : resolve(stdout)));
  });
}

/** Linux resolver; returns undefined (caller unknown) rather than guessing when anything is missing. */
export const linuxCallerResolver: CallerResolver = async (socket) => {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return undefined;
  try {
    const link = await readlink(`/proc/self/fd/${fd}`);
    const own = /socket:\[(\d+)\]/.exec(link);
    if (!own) return undefined;
    const ownInode = Number(own[1]);
    const pid = parseSsUnixOutput(await runSs()).find((r) => r.peerInode === ownInode)?.pids[0];
    if (pid === undefined) return undefined;
    const uid = parseStatusUid(await readFile(`/proc/${pid}/status`, 'utf8'));
    if (uid === undefined) return undefined;
    const user = parsePasswdName(await readFile('/etc/passwd', 'utf8').catch(() => ''), uid);
    return { pid, uid, ...(user !== undefined ? { user } : {}) };
  } catch {
    return undefined;
  }
};

/** Platforms whose peer lookup is not built yet report the caller as unknown. */
export const unknownCallerResolver: CallerResolver = () => Promise.resolve(undefined);
