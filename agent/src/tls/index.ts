// The TLS room: the name-constrained CA, leaf certificates for intercepted hosts, and the signer seam
// between the local CA and the gateway-held CA.
export { CertificateManager, type CertificateManagerOptions, type CertificateManagerStats, type PrewarmResult } from './certificate-manager.ts';
export { LocalCaSigner, type LeafSigner, type LeafSignRequest, type LocalCaSignerOptions, type SignedLeaf } from './signer.ts';
export {
  loadOrCreateLocalCa,
  readCaDescription,
  formatCaField,
  CA_CLI_FIELDS,
  CA_CERT_FILE_NAME,
  CA_KEY_FILE_NAME,
  type CaCliField,
  type LocalCa,
  type LoadOrCreateLocalCaOptions,
} from './local-ca.ts';
// The X.509 building blocks are shared with the gateway's CA and live in lib/x509/.
export {
  describeCa,
  createNameConstrainedCa,
  createLeafCsr,
  signLeafFromCsr,
  generateRsaKeyPair,
  certificateFingerprintSha256,
  MAX_LEAF_VALIDITY_DAYS,
  normaliseHost,
  // The check a gateway-held CA must pass before the agent installs it (sync's GatewayCaSigner).
  caConstraintProblem,
  CsrRejectedError,
  HostNotPermittedError,
  InvalidHostError,
  UnusableCaError,
  type CaDescription,
  type CreateCaOptions,
  type PemKeyPair,
  type SignLeafFromCsrOptions,
} from '../../../lib/index.ts';
