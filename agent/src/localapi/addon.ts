// The peer-credential calls of the native addon (agent/native/sockdiag, loaded by lib/sockdiag-addon.ts).
// Node has no API for SO_PEERCRED, LOCAL_PEERCRED or a pipe client's token, and running a program per
// request would be slow and would read text a process can shape.
import { loadSockdiagAddon } from '../lib/sockdiag-addon.ts';
import { peerCredentialResolver, type CallerResolver, type PeerCred, type WindowsPeer } from './peer-credentials.ts';

/** The addon's peer-credential surface; which functions exist depends on the OS it was built for. */
export interface PeerCredAddon {
  /** Linux, macOS: the connected unix socket's peer, from the kernel. Throws when the kernel refuses. */
  peerCred?: (fd: number) => PeerCred;
  /** Linux, macOS: getpwuid_r; null when the uid has no account. */
  userName?: (uid: number) => string | null;
  /**
   * Windows: the process owning the loopback connection whose local end is the peer's and remote end
   * the daemon's (the kernel's TCP table), described from its token; null when no such connection.
   */
  tcpPeer?: (family: 4 | 6, peerAddr: string, peerPort: number, ownAddr: string, ownPort: number) => WindowsPeer | null;
  /** Windows: the owner of the connection with exactly these ends (the CLI asks about the daemon's end). */
  tcpOwnerPid?: (family: 4 | 6, localAddr: string, localPort: number, remoteAddr: string, remotePort: number) => number | null;
  /** Windows: the running service's process id, null when it is not running. */
  servicePid?: (name: string) => number | null;
}

export const ADDON_MISSING =
  'the daemon cannot identify the calling OS user: its peer-credential addon (agent/native/sockdiag) is not built into this installation, ' +
  'so routes that act for or show one user are refused rather than guessed (rebuild with a C compiler: npm ci, or the packaged executable)';

function usable(addon: unknown): PeerCredAddon | undefined {
  const a = addon as PeerCredAddon | undefined;
  return typeof a?.peerCred === 'function' || typeof a?.tcpPeer === 'function' ? a : undefined;
}

/** The addon, or undefined when it is not built here or lacks the peer-credential calls. */
export function loadPeerCredAddon(): PeerCredAddon | undefined {
  return usable(loadSockdiagAddon());
}

/** The daemon's resolver: the kernel's answer through the addon, or refusals that say why not. */
export function platformCallerResolver(platform: NodeJS.Platform = process.platform): CallerResolver {
  return peerCredentialResolver(loadPeerCredAddon(), platform, ADDON_MISSING);
}
