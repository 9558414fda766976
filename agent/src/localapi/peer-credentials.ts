// Who is on the other end of a local API connection, asked of the kernel: SO_PEERCRED on Linux,
// LOCAL_PEERCRED on macOS, the named pipe client's token on Windows (agent/native/sockdiag). Never
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

/** What the Windows addon answers for a connected pipe instance. */
export interface PipeClient {
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

/** The caller from a pipe client's token; an account without a name is keyed by its SID. */
export function callerFromPipeClient(client: PipeClient): LocalCaller {
  return { pid: client.pid, uid: -1, gid: -1, user: client.user ?? client.sid, privileged: client.privileged || client.sid === LOCAL_SYSTEM_SID, sid: client.sid };
}

/** The OS-level handle under a Node socket: a file descriptor on POSIX; Node reports -1 for an accepted pipe on Windows. */
function osHandle(socket: Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
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
    const pipeClient = addon?.pipeClient;
    if (!pipeClient) return () => ({ unknown: unavailable });
    return (socket) => {
      const handle = osHandle(socket);
      // libuv keeps an accepted pipe's HANDLE to itself (Node's `fd` is -1 there): until the daemon
      // accepts pipes in native code, Windows callers are unknown rather than guessed.
      if (handle === undefined) return { unknown: 'this Node does not expose the named pipe handle the client token is read from' };
      try {
        return { caller: callerFromPipeClient(pipeClient(handle)) };
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
