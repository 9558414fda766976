// The CA list an https next hop is verified against: Node's bundled Mozilla roots, the OS store
// (where an organization installs its private CA), and an optional extra CA (tests). Passing `ca`
// replaces Node's shared root store, so OpenSSL parses every PEM given into a store of its own.
// On Linux the OS store is read from the distribution's CA bundle file, as Go's crypto/x509 does:
// Node's own reader also walks the hashed certificate directory, which lists each root again, and
// keeps every parsed copy for the process's life (~700 certificates and ~5 MiB for ~165 distinct).
import fs from 'node:fs';
import tls from 'node:tls';

/** Where Linux distributions keep the system CA bundle, first found wins (after SSL_CERT_FILE). */
const LINUX_CA_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine, Arch
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // Fedora, RHEL 7+
  '/etc/pki/tls/certs/ca-bundle.crt', // older Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/ssl/cert.pem', // others
];

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The base64 body of a PEM: the same certificate however its lines are wrapped or labelled. */
function certificateBody(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

function readPemBlocks(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').match(PEM_BLOCK) ?? [];
  } catch {
    return [];
  }
}

/** The Linux system bundle (SSL_CERT_FILE first), and the PEM files of SSL_CERT_DIR when it is set. */
export function linuxSystemRoots(env: NodeJS.ProcessEnv = process.env, candidates: readonly string[] = LINUX_CA_BUNDLES): string[] {
  const out: string[] = [];
  for (const file of [env.SSL_CERT_FILE, ...candidates]) {
    if (!file) continue;
    const blocks = readPemBlocks(file);
    if (blocks.length > 0) {
      out.push(...blocks);
      break;
    }
  }
  for (const dir of (env.SSL_CERT_DIR ?? '').split(':').filter(Boolean)) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) if (/\.(pem|crt)$/.test(name)) out.push(...readPemBlocks(`${dir}/${name}`));
  }
  return out;
}

function osStore(): readonly string[] {
  if (process.platform === 'linux') return linuxSystemRoots();
  const getCa = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  try {
    return getCa?.('system') ?? [];
  } catch {
    // No readable OS store: the bundled roots stand.
    return [];
  }
}

/** Each certificate once: bundled roots, then the OS store, then `extraPem` (which may hold several). */
export function trustedRoots(extraPem: string | undefined, system: readonly string[] = osStore()): string[] {
  const byBody = new Map<string, string>();
  const extra = extraPem ? extraPem.match(PEM_BLOCK) ?? [extraPem] : [];
  for (const pem of [...tls.rootCertificates, ...system, ...extra]) {
    const body = certificateBody(pem);
    if (!byBody.has(body)) byBody.set(body, pem);
  }
  return [...byBody.values()];
}

let osTrust: tls.SecureContext | undefined;

/**
 * One TLS context trusting the bundled roots and the OS store, shared by every client of the
 * organization's servers in the daemon (forwarding, enrollment, the sync channel): a private CA an
 * IT team installed in the OS store is trusted by all three, and the store is parsed once.
 */
export function osTrustContext(): tls.SecureContext {
  return (osTrust ??= tls.createSecureContext({ ca: trustedRoots(undefined) }));
}
