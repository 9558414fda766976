// The TLS room: the name-constrained CA, leaf certificates for intercepted hosts, and the signer seam
// between the local CA and the gateway-held CA.
export { CertificateManager, type CertificateManagerOptions, type CertificateManagerStats, type PrewarmResult } from './certificate-manager.ts';
export { LocalCaSigner, type LeafSigner, type LeafSignRequest, type LocalCaSignerOptions, type SignedLeaf } from './signer.ts';
export {
  loadOrCreateLocalCa,
  readCaDescription,
  describeCa,
  formatCaField,
  CA_CLI_FIELDS,
  CA_CERT_FILE_NAME,
  CA_KEY_FILE_NAME,
  type CaCliField,
  type CaDescription,
  type LocalCa,
  type LoadOrCreateLocalCaOptions,
} from './local-ca.ts';
export {
  createNameConstrainedCa,
  createLeafCsr,
  signLeafFromCsr,
  generateRsaKeyPair,
  certificateFingerprintSha256,
  MAX_LEAF_VALIDITY_DAYS,
  type CreateCaOptions,
  type PemKeyPair,
  type SignLeafFromCsrOptions,
} from './certificates.ts';
export { normaliseHost } from './names.ts';
export { CsrRejectedError, HostNotPermittedError, InvalidHostError, UnusableCaError } from './errors.ts';
