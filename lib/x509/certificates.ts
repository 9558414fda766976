// X.509 building blocks: RSA keys (native keygen), the name-constrained CA, CSRs and leaf issuance.
// node-forge builds the structures; every RSA private-key operation (signing) runs in Node's crypto,
// because forge's pure-JavaScript RSA is far too slow for certificates minted on the request path.
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign as signNative,
  verify as verifyNative,
  type KeyObject,
} from 'node:crypto';
import forge from 'node-forge';
import { CsrRejectedError, HostNotPermittedError, InvalidHostError, UnusableCaError } from './errors.ts';
import {
  constraintsForDomains,
  describeSubtree,
  isNamePermitted,
  nameConstraintsExtension,
  normaliseHost,
  readNameConstraints,
  type NameConstraints,
  type NormalisedHost,
} from './names.ts';

const { pki, asn1 } = forge;

// forge builds these structures internally but its type declarations leave them out.
const forgeInternals = pki as typeof pki & {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
};

const DAY_MS = 24 * 60 * 60 * 1000;
/** Leaves are backdated by a day so a client whose clock runs behind still accepts them. */
export const LEAF_BACKDATE_MS = DAY_MS;
/** Ceiling on a leaf's whole validity (notAfter - notBefore), in days. */
export const MAX_LEAF_VALIDITY_DAYS = 45;
export const DEFAULT_CA_VALIDITY_DAYS = 3 * 365;
export const DEFAULT_RSA_BITS = 2048;

const SIGNATURE_HASH_BY_OID: Record<string, string> = {
  [pki.oids.sha256WithRSAEncryption!]: 'sha256',
  [pki.oids.sha384WithRSAEncryption!]: 'sha384',
  [pki.oids.sha512WithRSAEncryption!]: 'sha512',
};

export interface PemKeyPair {
  privateKeyPem: string;
  publicKeyPem: string;
}

/** A signed leaf and the CA that signed it, as a signer hands it back. */
export interface SignedLeaf {
  certPem: string;
  caPem: string;
  notBefore: Date;
  notAfter: Date;
}

/**
 * Generates an RSA key pair through node-forge's native path: with a callback, forge delegates to
 * Node's `crypto.generateKeyPair` (OpenSSL, off the main thread) instead of its JavaScript prime search.
 */
export async function generateRsaKeyPair(bits: number = DEFAULT_RSA_BITS): Promise<PemKeyPair> {
  if ((forge as unknown as { options?: { usePureJavaScript?: boolean } }).options?.usePureJavaScript) {
    throw new Error('node-forge is in pure-JavaScript mode; refusing to generate an RSA key without native crypto');
  }
  const pair = await new Promise<forge.pki.rsa.KeyPair>((resolve, reject) => {
    pki.rsa.generateKeyPair({ bits, e: 0x10001 }, (err: Error | null, keyPair) => {
      if (err) reject(err);
      else resolve(keyPair);
    });
  });
  return { privateKeyPem: pki.privateKeyToPem(pair.privateKey), publicKeyPem: pki.publicKeyToPem(pair.publicKey) };
}

/** SHA-256 fingerprint of a PEM certificate as `openssl x509 -noout -fingerprint -sha256` prints it (AA:BB:...). */
export function certificateFingerprintSha256(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

function signDer(der: string, hash: string, key: KeyObject): string {
  return signNative(hash, Buffer.from(der, 'binary'), key).toString('binary');
}

function signCertificate(cert: forge.pki.Certificate, key: KeyObject): void {
  cert.signatureOid = cert.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  cert.tbsCertificate = forgeInternals.getTBSCertificate(cert);
  cert.signature = signDer(asn1.toDer(cert.tbsCertificate).getBytes(), 'sha256', key);
}

/** A random positive serial of 128 bits whose first byte is non-zero, so its DER INTEGER is minimal. */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function spkiDer(key: KeyObject): Buffer {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
}

export interface CreateCaOptions {
  commonName: string;
  organization?: string | undefined;
  /** DNS names (each with its subdomains) and IP addresses the CA may vouch for; nothing else. */
  permittedDomains: readonly string[];
  validityDays?: number | undefined;
  keyBits?: number | undefined;
  now?: Date | undefined;
}

/**
 * Creates a self-signed CA that clients will only accept for `permittedDomains`: critical
 * nameConstraints, critical basicConstraints CA:true pathLen 0, critical keyUsage
 * keyCertSign+cRLSign, SHA-256, a subject key identifier.
 */
export async function createNameConstrainedCa(options: CreateCaOptions): Promise<{ certPem: string; keyPem: string }> {
  const validityDays = options.validityDays ?? DEFAULT_CA_VALIDITY_DAYS;
  if (!(validityDays > 0)) throw new RangeError(`CA validity must be a positive number of days, got ${validityDays}`);
  const constraints = constraintsForDomains(options.permittedDomains);
  const keys = await generateRsaKeyPair(options.keyBits ?? DEFAULT_RSA_BITS);
  const now = options.now ?? new Date();

  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(keys.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  // Backdated like the leaves, so a leaf's notBefore never precedes its issuer's.
  cert.validity.notBefore = new Date(now.getTime() - LEAF_BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + validityDays * DAY_MS);
  const subject: forge.pki.CertificateField[] = [{ name: 'commonName', value: options.commonName }];
  if (options.organization) subject.push({ name: 'organizationName', value: options.organization });
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    nameConstraintsExtension(constraints),
  ]);
  signCertificate(cert, createPrivateKey(keys.privateKeyPem));
  return { certPem: pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** The fields of forge's parsed extensions that are read here. */
interface ParsedExtension {
  name?: string;
  cA?: boolean;
  subjectKeyIdentifier?: string;
}

/** A CA certificate and key checked and prepared for issuing leaves. */
export interface CaAuthority {
  readonly certPem: string;
  readonly cert: forge.pki.Certificate;
  readonly key: KeyObject;
  /** The CA's key identifier (raw bytes as a forge binary string), copied into each leaf's AKI. */
  readonly keyIdentifier: string;
  readonly constraints: NameConstraints;
  /** The permitted subtrees as people read them, for errors and `heimdall ca`. */
  readonly permitted: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * Parses and checks a CA: a certificate with basicConstraints CA:true, a key that matches it, and
 * nameConstraints. An unconstrained CA is refused: issuing from it would make every leaf valid for any
 * name, which is exactly what this design rules out.
 */
export function prepareCaAuthority(caCertPem: string, caKeyPem: string): CaAuthority {
  let cert: forge.pki.Certificate;
  let key: KeyObject;
  try {
    cert = pki.certificateFromPem(caCertPem);
  } catch (err) {
    throw new UnusableCaError(`the CA certificate cannot be parsed (${(err as Error).message})`, { cause: err });
  }
  try {
    key = createPrivateKey(caKeyPem);
  } catch (err) {
    throw new UnusableCaError(`the CA private key cannot be parsed (${(err as Error).message})`, { cause: err });
  }
  const extensions = cert.extensions as ParsedExtension[];
  const bc = extensions.find((e) => e.name === 'basicConstraints');
  if (!bc?.cA) throw new UnusableCaError('the certificate is not a CA (basicConstraints CA:true is missing)');
  if (!spkiDer(key).equals(new X509Certificate(caCertPem).publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new UnusableCaError('the private key does not belong to the CA certificate');
  }
  let constraints: ReturnType<typeof readNameConstraints>;
  try {
    constraints = readNameConstraints(cert);
  } catch (err) {
    throw new UnusableCaError((err as Error).message, { cause: err });
  }
  if (!constraints || constraints.permitted.length === 0) {
    throw new UnusableCaError('the CA has no permitted name subtrees (nameConstraints); refusing an unconstrained CA');
  }
  if (!constraints.critical) throw new UnusableCaError('the CA\'s nameConstraints extension is not marked critical');
  const ski = extensions.find((e) => e.name === 'subjectKeyIdentifier');
  const keyIdentifier = ski?.subjectKeyIdentifier
    ? forge.util.hexToBytes(ski.subjectKeyIdentifier)
    : cert.generateSubjectKeyIdentifier().getBytes();
  return {
    certPem: caCertPem,
    cert,
    key,
    keyIdentifier,
    constraints: { permitted: constraints.permitted, excluded: constraints.excluded },
    permitted: constraints.permitted.map(describeSubtree),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
  };
}

/** Whether the CA may vouch for `host` (already normalised). */
export function caPermits(ca: CaAuthority, host: NormalisedHost): boolean {
  return isNamePermitted(host, ca.constraints);
}

function normaliseLeafHosts(ca: CaAuthority, hosts: readonly string[]): NormalisedHost[] {
  if (hosts.length === 0) throw new InvalidHostError('', 'a leaf certificate needs at least one host');
  const out: NormalisedHost[] = [];
  for (const h of hosts) {
    const host = normaliseHost(h);
    if (!caPermits(ca, host)) throw new HostNotPermittedError(host.host, ca.permitted);
    if (!out.some((o) => o.host === host.host)) out.push(host);
  }
  return out;
}

export interface IssueLeafOptions {
  /** SPKI PEM of the leaf's public key. */
  publicKeyPem: string;
  hosts: readonly string[];
  /** notAfter - notBefore, in days; at most 45, and more than the one-day backdating. */
  validityDays?: number | undefined;
  now?: Date | undefined;
}

/**
 * Issues a leaf for `hosts` under `ca`: SAN (dNSName, or iPAddress for IP hosts), EKU serverAuth,
 * keyUsage digitalSignature+keyEncipherment, AKI of the CA key, no SKI, a random serial, notBefore a
 * day back and a whole validity of at most 45 days (never past the CA's own notAfter).
 */
export function issueLeaf(ca: CaAuthority, options: IssueLeafOptions): SignedLeaf {
  const validityDays = options.validityDays ?? MAX_LEAF_VALIDITY_DAYS;
  if (!(validityDays > LEAF_BACKDATE_MS / DAY_MS && validityDays <= MAX_LEAF_VALIDITY_DAYS)) {
    throw new RangeError(`leaf validity must be more than 1 and at most ${MAX_LEAF_VALIDITY_DAYS} days, got ${validityDays}`);
  }
  const hosts = normaliseLeafHosts(ca, options.hosts);
  const now = options.now ?? new Date();
  const notBefore = new Date(now.getTime() - LEAF_BACKDATE_MS);
  const notAfter = new Date(Math.min(notBefore.getTime() + validityDays * DAY_MS, ca.notAfter.getTime()));
  if (notAfter.getTime() <= now.getTime()) throw new UnusableCaError('the CA has expired; it must be regenerated');

  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(options.publicKeyPem);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  // An IP address as CN would be checked against the DNS subtrees by OpenSSL (which treats a
  // hostname-looking CN as a DNS name when no DNS SAN is present) and fail; RFC 5280 allows an empty
  // subject when the SAN is critical.
  const cnHost = hosts[0]!.kind === 'dns' ? hosts[0]!.host : undefined;
  cert.setSubject(cnHost === undefined ? [] : [{ name: 'commonName', value: cnHost }]);
  cert.setIssuer(ca.cert.subject.attributes);
  cert.setExtensions([
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      critical: cnHost === undefined,
      altNames: hosts.map((h) => (h.kind === 'ip' ? { type: 7, ip: h.host } : { type: 2, value: h.host })),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.keyIdentifier },
  ]);
  signCertificate(cert, ca.key);
  return { certPem: pki.certificateToPem(cert), caPem: ca.certPem, notBefore, notAfter };
}

/**
 * A PKCS#10 request for `hosts` (subject CN = first host, SAN requested for all), signed with the
 * leaf key. The key pair is PEM so it can come from anywhere; signing runs in Node's crypto.
 */
export function createLeafCsr(hosts: readonly string[], keyPair: PemKeyPair): string {
  const names = hosts.map((h) => normaliseHost(h));
  if (names.length === 0) throw new InvalidHostError('', 'a CSR needs at least one host');
  const csr = pki.createCertificationRequest();
  csr.publicKey = pki.publicKeyFromPem(keyPair.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: names[0]!.host }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: names.map((h) => (h.kind === 'ip' ? { type: 7, ip: h.host } : { type: 2, value: h.host })),
        },
      ],
    },
  ]);
  csr.signatureOid = csr.siginfo.algorithmOid = pki.oids.sha256WithRSAEncryption!;
  csr.certificationRequestInfo = forgeInternals.getCertificationRequestInfo(csr);
  csr.signature = signDer(asn1.toDer(csr.certificationRequestInfo).getBytes(), 'sha256', createPrivateKey(keyPair.privateKeyPem));
  return pki.certificationRequestToPem(csr);
}

export interface VerifiedCsr {
  /** SPKI PEM of the requester's public key. */
  publicKeyPem: string;
  /** DNS names and IP addresses requested in the CSR's subjectAltName, if any. */
  requestedHosts: string[];
}

/** Parses a CSR and checks its self-signature (RSA with SHA-256/384/512) in Node's crypto. */
export function verifyCsr(csrPem: string): VerifiedCsr {
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw new CsrRejectedError(`it cannot be parsed as an RSA PKCS#10 request (${(err as Error).message})`, { cause: err });
  }
  const hash = csr.signatureOid ? SIGNATURE_HASH_BY_OID[csr.signatureOid] : undefined;
  if (!hash) throw new CsrRejectedError(`unsupported signature algorithm ${csr.signatureOid ?? 'none'}; use RSA with SHA-256`);
  if (!csr.publicKey || !csr.certificationRequestInfo) throw new CsrRejectedError('it has no public key');
  const publicKeyPem = pki.publicKeyToPem(csr.publicKey);
  const signedBytes = Buffer.from(asn1.toDer(csr.certificationRequestInfo).getBytes(), 'binary');
  const signature = Buffer.from(csr.signature as string, 'binary');
  if (!verifyNative(hash, signedBytes, createPublicKey(publicKeyPem), signature)) {
    throw new CsrRejectedError('its signature does not verify with its own public key');
  }
  const requestedHosts: string[] = [];
  const extReq = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: { name?: string; altNames?: { type: number; value?: string; ip?: string }[] }[] } | null;
  for (const ext of extReq?.extensions ?? []) {
    if (ext.name !== 'subjectAltName') continue;
    for (const alt of ext.altNames ?? []) {
      if (alt.type === 2 && alt.value) requestedHosts.push(alt.value);
      else if (alt.type === 7 && alt.ip) requestedHosts.push(alt.ip);
    }
  }
  return { publicKeyPem, requestedHosts };
}

/** True when two PEM public keys are the same key. */
export function samePublicKey(a: string, b: string): boolean {
  return spkiDer(createPublicKey(a)).equals(spkiDer(createPublicKey(b)));
}

export interface SignLeafFromCsrOptions {
  caCertPem: string;
  caKeyPem: string;
  csrPem: string;
  /** Hosts to certify; defaults to the CSR's requested SAN. Every one must lie inside the CA's constraints. */
  hosts?: readonly string[] | undefined;
  validityDays?: number | undefined;
  now?: Date | undefined;
}

/**
 * Signs a leaf for a CSR under a (gateway-held or local) CA: verifies the CSR's signature, refuses
 * any host outside the CA's permitted subtrees (HostNotPermittedError), then issues as `issueLeaf`.
 */
export function signLeafFromCsr(options: SignLeafFromCsrOptions): SignedLeaf {
  const ca = prepareCaAuthority(options.caCertPem, options.caKeyPem);
  const csr = verifyCsr(options.csrPem);
  const hosts = options.hosts ?? csr.requestedHosts;
  if (hosts.length === 0) throw new CsrRejectedError('no hosts given and the CSR requests no subjectAltName');
  return issueLeaf(ca, { publicKeyPem: csr.publicKeyPem, hosts, validityDays: options.validityDays, now: options.now });
}
