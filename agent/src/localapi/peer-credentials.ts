// Who is on the other end of a local API connection, asked of the kernel: SO_PEERCRED on Linux,
// LOCAL_PEERCRED on macOS; on Windows the TCP table's owner of the loopback connection's other end
// and that process's token (agent/native/sockdiag, endpoint.ts says why TCP). Never
// from text a process can shape (its name in `ss -xp` output once let a user pass for another), and
// never a subprocess per request. Without the addon the caller is unknown, and the routes that need
// to know who is asking refuse (server.ts) instead of guessing.
import type { Socket } from 'node:net';
import type { PeerCredAddon } from './addon.ts';

export interface LocalCaller {
  pid: number;
  /** POSIX uid; -1 on Windows, where `sid` names the account. */
  uid: number;
  /** POSIX primary gid; -1 on Windows. */
  gid: number;
  /** The OS user name the daemon keys per-user data by: the account's name, `uid:<n>` when it has none. */
  user: string;
  /** root (uid 0), or on Windows LocalSystem or an elevated administrator: may see and act for every user. */
  privileged: boolean;
  /** Windows only: the account's SID. */
  sid?: string;
}

/** The caller, or why the daemon cannot tell (said to the caller in the refusal). */
export type CallerLookup = { caller: LocalCaller } | { unknown: string };

/** Synchronous: one getsockopt, microseconds, on the connection's own descriptor. */
export type CallerResolver = (socket: Socket) => CallerLookup;

/** What the POSIX addon answers for a connected unix socket. */
export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** What the Windows addon answers for the process at the other end of a loopback connection. */
export interface WindowsPeer {
  pid: number;
  sid: string;
  user?: string;
  privileged: boolean;
}

const LOCAL_SYSTEM_SID = 'S-1-5-18';

/** The caller from the kernel's peer credentials and the uid's name (null: the uid has no account). */
export function callerFromPeerCred(cred: PeerCred, name: string | null): LocalCaller {
  return { pid: cred.pid, uid: cred.uid, gid: cred.gid, user: name ?? `uid:${cred.uid}`, privileged: cred.uid === 0 };
}

/** The caller from the peer process's token; an account without a name is keyed by its SID. */
export function callerFromWindowsToken(client: WindowsPeer): LocalCaller {
  return { pid: client.pid, uid: -1, gid: -1, user: client.user ?? client.sid, privileged: client.privileged || client.sid === LOCAL_SYSTEM_SID, sid: client.sid };
}

/** The OS-level handle under a Node socket: a file descriptor on POSIX. */
function osHandle(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

export interface LoopbackEnds {
  family: 4 | 6;
  peerAddr: string;
  peerPort: number;
  ownAddr: string;
  ownPort: number;
}

/** Both ends of an accepted loopback TCP connection, or why the connection does not qualify. */
export function loopbackEnds(socket: Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort' | 'remoteFamily'>): LoopbackEnds | { unknown: string } {
  const { remoteAddress, remotePort, localAddress, localPort, remoteFamily } = socket;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) {
    return { unknown: 'the connection has no TCP addresses (already closed?)' };
  }
  const loopback = remoteFamily === 'IPv4' ? remoteAddress.startsWith('127.') : remoteAddress === '::1';
  if (!loopback) return { unknown: `the connection comes from ${remoteAddress}, not from this machine's loopback` };
  return { family: remoteFamily === 'IPv4' ? 4 : 6, peerAddr: remoteAddress, peerPort: remotePort, ownAddr: localAddress, ownPort: localPort };
}

function failed(err: unknown): { unknown: string } {
  return { unknown: `the kernel did not say who is calling (${(err as Error).message})` };
}

/**
 * The resolver for this platform over the loaded addon, or one that says why the caller cannot be
 * known (`unavailable`), so identity-bound routes refuse with that reason.
 */
export function peerCredentialResolver(addon: PeerCredAddon | undefined, platform: NodeJS.Platform, unavailable: string): CallerResolver {
  if (platform === 'win32') {
    const tcpPeer = addon?.tcpPeer;
    if (!tcpPeer) return () => ({ unknown: unavailable });
    return (socket) => {
      const ends = loopbackEnds(socket);
      if ('unknown' in ends) return ends;
      try {
        // The peer's end is the local end of its row in the TCP table, the daemon's end the remote one.
        const peer = tcpPeer(ends.family, ends.peerAddr, ends.peerPort, ends.ownAddr, ends.ownPort);
        if (!peer) return { unknown: 'the kernel has no such connection any more (the caller left)' };
        return { caller: callerFromWindowsToken(peer) };
      } catch (err) {
        return failed(err);
      }
    };
  }
  const { peerCred, userName } = addon ?? {};
  if (!peerCred || !userName) return () => ({ unknown: unavailable });
  return (socket) => {
    const fd = osHandle(socket);
    if (fd === undefined) return { unknown: 'the connection has no socket descriptor (already closed?)' };
    try {
      const cred = peerCred(fd);
      return { caller: callerFromPeerCred(cred, userName(cred.uid)) };
    } catch (err) {
      return failed(err);
    }
  };
}
