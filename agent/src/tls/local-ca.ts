// The device-held CA of local mode: kept in the state directory, loaded at start, regenerated (with a
// warning, since every trust store holding the old one must be updated) only when it cannot serve.
import { chmod, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../lib/logger.ts';
import { ensurePrivateDir, writeFileAtomic } from '../lib/private-fs.ts';
import {
  caPermits,
  certificateFingerprintSha256,
  createNameConstrainedCa,
  DEFAULT_CA_VALIDITY_DAYS,
  describeCa,
  normaliseHost,
  prepareCaAuthority,
  UnusableCaError,
  type CaAuthority,
  type CaDescription,
} from '../../../lib/index.ts';
import { LocalCaSigner } from './signer.ts';

export const CA_CERT_FILE_NAME = 'ca.pem';
export const CA_KEY_FILE_NAME = 'ca-key.pem';
/** The CA certificate is public (admins and installers copy it into trust stores). */
export const CA_CERT_FILE_MODE = 0o644;
export const CA_KEY_FILE_MODE = 0o600;
/** A CA closer than this to its notAfter is replaced at start rather than left to lapse. */
export const CA_RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;
const COMMON_NAME_MAX = 64; // X.520 upper bound for commonName

export interface LoadOrCreateLocalCaOptions {
  stateDir: string;
  /** Hosts the CA must be allowed to vouch for (the routing table's hosts). */
  permittedDomains: readonly string[];
  organization?: string | undefined;
  logger: Logger;
  /** Names the device in the CA's subject; defaults to os.hostname(). */
  hostname?: string | undefined;
  caValidityDays?: number | undefined;
  leafValidityDays?: number | undefined;
  keyBits?: number | undefined;
}

export interface LocalCa {
  certPem: string;
  certPath: string;
  keyPath: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
  /** The CA's permitted subtrees, as written in the certificate. */
  permittedNames: readonly string[];
  /** True when this call generated a new CA (first start or regeneration). */
  created: boolean;
  signer: LocalCaSigner;
}

type Assessment = { usable: true; authority: CaAuthority; keyPem: string } | { usable: false; reason: string; previousFingerprint?: string; firstStart?: boolean };

async function readIfPresent(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function fingerprintOrUndefined(pem: string): string | undefined {
  try {
    return certificateFingerprintSha256(pem);
  } catch {
    return undefined;
  }
}

async function assessExisting(certPath: string, keyPath: string, wanted: readonly string[], now: number): Promise<Assessment> {
  const certPem = await readIfPresent(certPath);
  const keyPem = await readIfPresent(keyPath);
  if (certPem === undefined && keyPem === undefined) return { usable: false, reason: 'no CA exists yet', firstStart: true };
  const previousFingerprint = certPem === undefined ? undefined : fingerprintOrUndefined(certPem);
  const unusable = (reason: string): Assessment =>
    previousFingerprint === undefined ? { usable: false, reason } : { usable: false, reason, previousFingerprint };
  if (certPem === undefined) return unusable(`the CA certificate ${certPath} is missing`);
  if (keyPem === undefined) return unusable(`the CA key ${keyPath} is missing`);
  let authority: CaAuthority;
  try {
    authority = prepareCaAuthority(certPem, keyPem);
  } catch (err) {
    if (err instanceof UnusableCaError) return unusable(err.message);
    throw err;
  }
  if (authority.notAfter.getTime() - now < CA_RENEW_BEFORE_MS) {
    return unusable(`the CA expires on ${authority.notAfter.toISOString()}, within 30 days`);
  }
  const uncovered = wanted.filter((d) => !caPermits(authority, normaliseHost(d)));
  if (uncovered.length > 0) {
    return unusable(`the CA's name constraints (${authority.permitted.join(', ')}) do not cover ${uncovered.join(', ')}`);
  }
  return { usable: true, authority, keyPem };
}

async function tightenKeyMode(keyPath: string, logger: Logger): Promise<void> {
  if (process.platform === 'win32') return;
  const mode = (await stat(keyPath)).mode & 0o777;
  if (mode !== CA_KEY_FILE_MODE) {
    await chmod(keyPath, CA_KEY_FILE_MODE);
    logger.warn({ event: 'tls.ca.key_mode_fixed', key_path: keyPath, mode: mode.toString(8) }, 'CA key file was readable by others; reset it to 0600');
  }
}

function caCommonName(hostname: string): string {
  const name = `Heimdall Interception CA (${hostname})`;
  return name.length <= COMMON_NAME_MAX ? name : `${name.slice(0, COMMON_NAME_MAX - 4)}...)`;
}

/**
 * Loads the local CA from `stateDir`, or creates it. An existing CA is kept unless it is missing,
 * unparsable, not matched by its key, expiring within 30 days, or not permitted to cover one of
 * `permittedDomains`; replacing it is logged as a warning because clients trusting the old CA will
 * reject leaves from the new one until `ca.pem` is trusted again.
 */
export async function loadOrCreateLocalCa(options: LoadOrCreateLocalCaOptions): Promise<LocalCa> {
  const { stateDir, logger } = options;
  await ensurePrivateDir(stateDir);
  const certPath = path.join(stateDir, CA_CERT_FILE_NAME);
  const keyPath = path.join(stateDir, CA_KEY_FILE_NAME);
  const wanted = options.permittedDomains.map((d) => normaliseHost(d).host);

  const assessment = await assessExisting(certPath, keyPath, wanted, Date.now());
  let authority: CaAuthority;
  let keyPem: string;
  let created = false;
  if (assessment.usable) {
    authority = assessment.authority;
    keyPem = assessment.keyPem;
    await tightenKeyMode(keyPath, logger);
  } else {
    const fresh = await createNameConstrainedCa({
      commonName: caCommonName(options.hostname ?? os.hostname()),
      organization: options.organization,
      permittedDomains: wanted,
      validityDays: options.caValidityDays ?? DEFAULT_CA_VALIDITY_DAYS,
      keyBits: options.keyBits,
    });
    // Key first: a crash between the two writes leaves a key/cert mismatch, which the next start
    // detects and repairs, never an old key paired with a new certificate that looks valid.
    await writeFileAtomic(keyPath, fresh.keyPem, { mode: CA_KEY_FILE_MODE });
    await writeFileAtomic(certPath, fresh.certPem, { mode: CA_CERT_FILE_MODE });
    authority = prepareCaAuthority(fresh.certPem, fresh.keyPem);
    keyPem = fresh.keyPem;
    created = true;
  }

  const fingerprintSha256 = certificateFingerprintSha256(authority.certPem);
  if (!assessment.usable && !assessment.firstStart) {
    logger.warn(
      {
        event: 'tls.ca.regenerated',
        reason: assessment.reason,
        cert_path: certPath,
        previous_fingerprint: assessment.previousFingerprint,
        fingerprint: fingerprintSha256,
      },
      `regenerated the local CA (${assessment.reason}); clients must trust the new ${certPath}`,
    );
  } else if (!assessment.usable) {
    logger.info({ event: 'tls.ca.created', cert_path: certPath, fingerprint: fingerprintSha256 }, 'created the local CA');
  } else {
    logger.info(
      { event: 'tls.ca.loaded', cert_path: certPath, fingerprint: fingerprintSha256, not_after: authority.notAfter.toISOString() },
      'loaded the local CA',
    );
  }

  return {
    certPem: authority.certPem,
    certPath,
    keyPath,
    fingerprintSha256,
    notBefore: authority.notBefore,
    notAfter: authority.notAfter,
    permittedNames: authority.permitted,
    created,
    signer: new LocalCaSigner({ caCertPem: authority.certPem, caKeyPem: keyPem, leafValidityDays: options.leafValidityDays }),
  };
}

/** Reads `ca.pem` from the state directory without creating anything (for the CLI). */
export async function readCaDescription(stateDir: string): Promise<CaDescription> {
  const certPath = path.join(stateDir, CA_CERT_FILE_NAME);
  const pem = await readIfPresent(certPath);
  if (pem === undefined) {
    throw new Error(`no Heimdall CA at ${certPath}: the daemon creates it when it starts (is heimdall running with this state directory?)`);
  }
  try {
    return describeCa(pem, certPath);
  } catch (err) {
    throw new Error(`${certPath} is not a readable certificate (${(err as Error).message}); restart the daemon to regenerate it`, { cause: err });
  }
}

export const CA_CLI_FIELDS = ['path', 'pem', 'fingerprint'] as const;
export type CaCliField = (typeof CA_CLI_FIELDS)[number];

/** The exact text `heimdall ca <field>` prints (newline-terminated). */
export function formatCaField(description: CaDescription, field: CaCliField): string {
  switch (field) {
    case 'path':
      return `${description.certPath}\n`;
    case 'pem':
      return description.certPem;
    case 'fingerprint':
      return `${description.fingerprintSha256}\n`;
  }
}
