// What an admin is shown about an interception CA (`heimdall ca`, the gateway's CA export): its
// fingerprint, subject, validity and the names it is constrained to.
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describeSubtree, isNamePermitted, normaliseHost, readNameConstraints } from './names.ts';

/** What `heimdall ca` shows an admin about the CA to trust. */
export interface CaDescription {
  certPath: string;
  certPem: string;
  fingerprintSha256: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  permittedNames: readonly string[];
}

export function describeCa(certPem: string, certPath: string): CaDescription {
  const x509 = new X509Certificate(certPem);
  const cert = forge.pki.certificateFromPem(certPem);
  const constraints = readNameConstraints(cert);
  return {
    certPath,
    certPem: certPem.endsWith('\n') ? certPem : `${certPem}\n`,
    fingerprintSha256: x509.fingerprint256,
    subject: x509.subject.replaceAll('\n', ', '),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    permittedNames: constraints?.permitted.map(describeSubtree) ?? [],
  };
}

/**
 * Why `certPem` is not a CA that clients accept only for `hosts`, or undefined when it is one: it
 * must carry a critical nameConstraints extension whose permitted DNS names are all among `hosts`
 * (a subset is fine) and that permits no IP address. An agent installs no other gateway CA.
 */
export function caConstraintProblem(certPem: string, hosts: readonly string[]): string | undefined {
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromPem(certPem);
  } catch (err) {
    return `the CA is not a PEM certificate forge can read (${(err as Error).message})`;
  }
  let constraints: ReturnType<typeof readNameConstraints>;
  try {
    constraints = readNameConstraints(cert);
  } catch (err) {
    return (err as Error).message;
  }
  if (!constraints) return 'the CA has no nameConstraints extension: it could vouch for any name';
  if (!constraints.critical) return 'the CA\'s nameConstraints extension is not critical: clients that do not understand it would ignore it';
  const allowed = new Set(hosts.map((h) => normaliseHost(h).host));
  const permittedDns = constraints.permitted.filter((t) => t.kind === 'dns');
  if (permittedDns.length === 0) return 'the CA permits no DNS name subtree: every DNS name is allowed';
  const outside = constraints.permitted.filter((t) => t.kind !== 'dns' || !allowed.has(t.name)).map(describeSubtree);
  if (outside.length > 0) return `the CA permits names outside the intercepted hosts: ${outside.slice(0, 5).join(', ')}`;
  for (const ip of ['192.0.2.1', '2001:db8::1']) {
    if (isNamePermitted(normaliseHost(ip), constraints)) return `the CA does not exclude IP addresses (${ip} would be accepted)`;
  }
  return undefined;
}
