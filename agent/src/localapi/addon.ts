// The peer-credential calls of the native addon (agent/native/sockdiag, loaded by lib/sockdiag-addon.ts).
// Node has no API for SO_PEERCRED, LOCAL_PEERCRED or a pipe client's token, and running a program per
// request would be slow and would read text a process can shape.
import { loadSockdiagAddon } from '../lib/sockdiag-addon.ts';
import { peerCredentialResolver, type CallerResolver, type PeerCred, type PipeClient } from './peer-credentials.ts';

/** The addon's peer-credential surface; which functions exist depends on the OS it was built for. */
export interface PeerCredAddon {
  /** Linux, macOS: the connected unix socket's peer, from the kernel. Throws when the kernel refuses. */
  peerCred?: (fd: number) => PeerCred;
  /** Linux, macOS: getpwuid_r; null when the uid has no account. */
  userName?: (uid: number) => string | null;
  /** Windows: the connected pipe instance's client, from its token. */
  pipeClient?: (handle: number) => PipeClient;
}

export const ADDON_MISSING =
  'the daemon cannot identify the calling OS user: its peer-credential addon (agent/native/sockdiag) is not built into this installation, ' +
  'so routes that act for or show one user are refused rather than guessed (rebuild with a C compiler: npm ci, or the packaged executable)';

function usable(addon: unknown): PeerCredAddon | undefined {
  const a = addon as PeerCredAddon | undefined;
  return typeof a?.peerCred === 'function' || typeof a?.pipeClient === 'function' ? a : undefined;
}

/** The addon, or undefined when it is not built here or lacks the peer-credential calls. */
export function loadPeerCredAddon(): PeerCredAddon | undefined {
  return usable(loadSockdiagAddon());
}

/** The daemon's resolver: the kernel's answer through the addon, or refusals that say why not. */
export function platformCallerResolver(platform: NodeJS.Platform = process.platform): CallerResolver {
  return peerCredentialResolver(loadPeerCredAddon(), platform, ADDON_MISSING);
}
