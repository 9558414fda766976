// The gateway-held interception CA: generated here (name-constrained, via lib/x509) or uploaded,
// kept in the store, and used to sign short-lived leaves for agents in ca_mode gateway.
import { X509Certificate } from 'node:crypto';
import {
  CsrRejectedError,
  HostNotPermittedError,
  InvalidHostError,
  UnusableCaError,
  certificateFingerprintSha256,
  createNameConstrainedCa,
  describeCa,
  signLeafFromCsr,
} from '../../../lib/index.ts';
import { permittedDomains } from '../../../protocol/index.ts';
import type { CaRecord } from '../store/index.ts';
import { ControlError } from './errors.ts';

/** Leaves signed for agents: short-lived (4 days from the one-day backdated notBefore, so 3 ahead: a lost device's leaves end soon), renewed by the agent at half-life. */
export const GATEWAY_LEAF_VALIDITY_DAYS = 4;

/**
 * The CA's permitted subtrees by default: exactly the hosts the agent's routing table intercepts, so
 * the gateway-held CA and an agent's local CA vouch for the same names (one table, in the forward room).
 */
export const DEFAULT_PERMITTED_DOMAINS: readonly string[] = permittedDomains();

export interface CaInfo {
  certPem: string;
  fingerprintSha256: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  permitted: readonly string[];
  source: CaRecord['source'];
  createdAt: string;
}

export function describeCaRecord(ca: CaRecord): CaInfo {
  const d = describeCa(ca.certPem, 'gateway store');
  return {
    // node-forge writes PEM with CRLF; people and MDM tools expect LF.
    certPem: d.certPem.replaceAll('\r\n', '\n'),
    fingerprintSha256: d.fingerprintSha256,
    subject: d.subject,
    notBefore: d.notBefore.toISOString(),
    notAfter: d.notAfter.toISOString(),
    permitted: d.permittedNames,
    source: ca.source,
    createdAt: ca.createdAt,
  };
}

export async function generateCa(options: { domains?: readonly string[]; commonName?: string; organization?: string; validityDays?: number }): Promise<CaRecord> {
  try {
    const { certPem, keyPem } = await createNameConstrainedCa({
      commonName: options.commonName ?? 'Heimdall Gateway Interception CA',
      organization: options.organization,
      permittedDomains: options.domains && options.domains.length > 0 ? options.domains : DEFAULT_PERMITTED_DOMAINS,
      validityDays: options.validityDays,
    });
    return { certPem, keyPem, source: 'generated', createdAt: new Date().toISOString() };
  } catch (err) {
    if (err instanceof InvalidHostError) throw new ControlError('invalid', err.message, 'domains');
    throw err;
  }
}

/**
 * Checks an uploaded CA the way signing will: a CA certificate, a matching key, critical name
 * constraints. The TLS room checks the CA before it looks at the CSR, so signing an empty CSR
 * reaches the CSR check only when the CA is usable.
 */
export function checkUploadedCa(certPem: string, keyPem: string): CaRecord {
  try {
    new X509Certificate(certPem);
  } catch (err) {
    throw new ControlError('invalid', `cert_pem is not a PEM certificate (${(err as Error).message})`, 'cert_pem');
  }
  try {
    signLeafFromCsr({ caCertPem: certPem, caKeyPem: keyPem, csrPem: '' });
  } catch (err) {
    if (err instanceof UnusableCaError) {
      const field = /private key/.test(err.message) ? 'key_pem' : 'cert_pem';
      throw new ControlError('invalid', err.message, field);
    }
    if (!(err instanceof CsrRejectedError)) throw err;
  }
  return { certPem, keyPem, source: 'uploaded', createdAt: new Date().toISOString() };
}

export type LeafResult =
  | { ok: true; certPem: string; caPem: string; notAfter: string }
  | { ok: false; code: 'no_ca' | 'bad_csr' | 'host_not_permitted' | 'revoked' | 'internal'; message: string };

export function signLeaf(ca: CaRecord | undefined, csrPem: string, hosts: readonly string[]): LeafResult {
  if (!ca) return { ok: false, code: 'no_ca', message: 'the gateway holds no CA; an administrator must run `heimdall-gateway ca generate` or upload one' };
  try {
    const leaf = signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem, hosts, validityDays: GATEWAY_LEAF_VALIDITY_DAYS });
    return { ok: true, certPem: leaf.certPem.replaceAll('\r\n', '\n'), caPem: leaf.caPem.replaceAll('\r\n', '\n'), notAfter: leaf.notAfter.toISOString() };
  } catch (err) {
    if (err instanceof HostNotPermittedError) return { ok: false, code: 'host_not_permitted', message: err.message };
    if (err instanceof CsrRejectedError || err instanceof InvalidHostError) return { ok: false, code: 'bad_csr', message: err.message };
    if (err instanceof UnusableCaError) return { ok: false, code: 'internal', message: err.message };
    throw err;
  }
}

export { certificateFingerprintSha256 };
