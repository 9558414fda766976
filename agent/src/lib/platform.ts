// Where Heimdall keeps its files on each OS, as one table. Chosen once from process.platform.
import path from 'node:path';

export type SupportedPlatform = 'linux' | 'darwin' | 'win32';

export interface PlatformPaths {
  /** Root/SYSTEM-only state: database, CA key, tokens. */
  stateDir: string;
  /** The managed JSON config file an admin or MDM script drops. */
  managedConfigFile: string;
  /**
   * The local API endpoint: a unix socket, or on Windows `127.0.0.1:<port>` (loopback TCP, whose
   * peer process the kernel's TCP table names: agent/src/localapi/endpoint.ts).
   */
  localApiSocket: string;
  /**
   * World-readable files apps need: the CA certificate and the CA bundle (system roots + CA) that
   * NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and friends point at. Rewritten by the daemon at every start.
   */
  publicDir: string;
}

/** The machine daemon's local API port on Windows (loopback only). */
export const WINDOWS_LOCAL_API_PORT = 47631;

/** A development daemon's local API port on Windows, from its state directory (stable, in 47632-48631). */
export function developmentPort(stateDir: string): number {
  let h = 2166136261;
  for (const c of Buffer.from(stateDir)) h = Math.imul(h ^ c, 16777619) >>> 0;
  return 47632 + (h % 1000);
}

const PROGRAM_DATA = process.env['ProgramData'] ?? 'C:\\ProgramData';

export const PLATFORM_PATHS: Record<SupportedPlatform, PlatformPaths> = {
  linux: {
    stateDir: '/var/lib/heimdall',
    managedConfigFile: '/etc/heimdall/config.json',
    localApiSocket: '/var/run/heimdall/heimdall.sock',
    publicDir: '/var/run/heimdall',
  },
  darwin: {
    stateDir: '/Library/Application Support/Heimdall',
    managedConfigFile: '/Library/Application Support/Heimdall/config.json',
    localApiSocket: '/var/run/heimdall/heimdall.sock',
    publicDir: '/var/run/heimdall',
  },
  win32: {
    stateDir: path.win32.join(PROGRAM_DATA, 'Heimdall'),
    managedConfigFile: path.win32.join(PROGRAM_DATA, 'Heimdall', 'config.json'),
    localApiSocket: `127.0.0.1:${WINDOWS_LOCAL_API_PORT}`,
    publicDir: path.win32.join(PROGRAM_DATA, 'Heimdall', 'public'),
  },
};

export function currentPlatform(): SupportedPlatform {
  const p = process.platform;
  if (p === 'linux' || p === 'darwin' || p === 'win32') return p;
  throw new Error(`Heimdall does not support the ${p} platform (supported: linux, darwin, win32)`);
}

/** Paths for this machine; a development state dir keeps the socket inside it so no root is needed. */
export function resolvePaths(options: { stateDir?: string; platform?: SupportedPlatform } = {}): PlatformPaths {
  const platform = options.platform ?? currentPlatform();
  const defaults = PLATFORM_PATHS[platform];
  if (!options.stateDir) return defaults;
  const stateDir = path.resolve(options.stateDir);
  return {
    stateDir,
    managedConfigFile: defaults.managedConfigFile,
    publicDir: stateDir,
    localApiSocket: platform === 'win32' ? `127.0.0.1:${developmentPort(stateDir)}` : path.join(stateDir, 'heimdall.sock'),
  };
}
