// Loads the native addon (agent/native/sockdiag) for its peer-credential calls: the copy embedded in
// the single-file executable first, else the one `npm ci` built. Node has no API for SO_PEERCRED,
// LOCAL_PEERCRED or a pipe client's token, and running a program per request would be slow and
// would read text a process can shape.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { loadEmbeddedAddon } from '../lib/embedded-addon.ts';
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

// Where `npm ci` builds the addon, seen from this file (agent/src/localapi/) and from the bundle
// (dist/heimdall.mjs, scripts/bundle.ts).
const BUILDS = ['../../native/sockdiag/build/Release/sockdiag.node', '../agent/native/sockdiag/build/Release/sockdiag.node'];

export const ADDON_MISSING =
  'the daemon cannot identify the calling OS user: its peer-credential addon (agent/native/sockdiag) is not built into this installation, ' +
  'so routes that act for or show one user are refused rather than guessed (rebuild with a C compiler: npm ci, or the packaged executable)';

function usable(addon: unknown): PeerCredAddon | undefined {
  const a = addon as PeerCredAddon | undefined;
  return typeof a?.peerCred === 'function' || typeof a?.pipeClient === 'function' ? a : undefined;
}

/** The addon, or undefined when neither copy exists or loads (no compiler at install, a noexec temp dir). */
export function loadPeerCredAddon(): PeerCredAddon | undefined {
  try {
    const embedded = usable(loadEmbeddedAddon('sockdiag.node'));
    if (embedded) return embedded;
  } catch {
    // embedded but not loadable here: try the built one
  }
  const load = createRequire(import.meta.url);
  for (const relative of BUILDS) {
    try {
      const addon = usable(load(fileURLToPath(new URL(relative, import.meta.url))));
      if (addon) return addon;
    } catch {
      // not built at this path
    }
  }
  return undefined;
}

/** The daemon's resolver: the kernel's answer through the addon, or refusals that say why not. */
export function platformCallerResolver(platform: NodeJS.Platform = process.platform): CallerResolver {
  return peerCredentialResolver(loadPeerCredAddon(), platform, ADDON_MISSING);
}
