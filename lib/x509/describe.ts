// What an admin is shown about an interception CA (`heimdall ca`, the gateway's CA export): its
// fingerprint, subject, validity and the names it is constrained to.
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { describeSubtree, readNameConstraints } from './names.ts';

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
