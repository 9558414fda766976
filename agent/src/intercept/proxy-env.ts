// The proxy environment's files on the daemon's side: the CA bundle tools are pointed at. The
// variables themselves are built in lib/proxy-environment.ts (shared with the CLI's launcher path).
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../lib/private-fs.ts';

export {
  APPENDED_VARIABLES,
  NODE_WARNING_FLAG,
  appendOptions,
  applyProxyEnvironment,
  buildProxyEnvironment,
  formatShellExports,
  type ProxyEnvironmentInput,
  type Shell,
} from '../lib/proxy-environment.ts';

/** Where distributions keep the system's trusted roots, most common first. */
export const SYSTEM_CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL, CentOS
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // RHEL 7+
  '/etc/ssl/cert.pem', // macOS, Alpine, OpenBSD
  '/usr/local/etc/openssl/cert.pem', // Homebrew OpenSSL
];

/** The first readable system bundle, or undefined (Windows, unusual systems). */
export async function findSystemCaBundle(candidates: readonly string[] = SYSTEM_CA_BUNDLES): Promise<string | undefined> {
  for (const file of candidates) {
    try {
      const text = await fs.readFile(file, 'utf8');
      if (text.includes('-----BEGIN CERTIFICATE-----')) return file;
    } catch {
      // Not on this system; try the next.
    }
  }
  return undefined;
}

/**
 * Writes `ca-bundle.pem` in `stateDir`: the system roots, then Heimdall's CA. Without the system
 * roots, a tool given this file in SSL_CERT_FILE could no longer reach any other HTTPS site.
 * Readable by everyone (0644): it holds only public certificates and users' tools must read it.
 * Falls back to Node's bundled roots when no system bundle exists.
 */
export async function writeCaBundle(stateDir: string, caPem: string, candidates?: readonly string[]): Promise<{ path: string; systemBundle: string | undefined }> {
  const systemBundle = await findSystemCaBundle(candidates);
  let roots: string;
  if (systemBundle) {
    roots = await fs.readFile(systemBundle, 'utf8');
  } else {
    const tls = await import('node:tls');
    roots = tls.rootCertificates.join('\n');
  }
  const file = path.join(stateDir, 'ca-bundle.pem');
  const body = `${roots.trimEnd()}\n\n# Heimdall local CA (governs AI traffic on this device)\n${caPem.trim()}\n`;
  await writeFileAtomic(file, body, { mode: 0o644 });
  return { path: file, systemBundle };
}
