// The seam between the certificate cache and whoever holds the CA key: the device (local mode) or
// the organization's gateway (gateway mode, CSRs over the sync channel, implemented in sync/).
import {
  caPermits, CsrRejectedError, HostNotPermittedError, issueLeaf, normaliseHost, prepareCaAuthority, samePublicKey, verifyCsr, type CaAuthority, type SignedLeaf,
} from '../../../lib/index.ts';

export type { SignedLeaf } from '../../../lib/index.ts';

export interface LeafSignRequest {
  /** Hosts the leaf must cover, already normalised (lowercase, no brackets); the first becomes the CN. */
  hosts: string[];
  /** PKCS#10 request signed with the leaf key (proof of possession for a remote CA). */
  csrPem: string;
  /** SPKI PEM of the leaf key; must be the CSR's key. */
  publicKeyPem: string;
}

export interface LeafSigner {
  readonly mode: 'local' | 'gateway';
  /**
   * Whether the CA's name constraints cover `host` (normalised). The certificate manager refuses
   * other hosts before asking for a signature, since no client would accept such a leaf.
   */
  permits(host: string): boolean;
  /** The permitted subtrees as people read them (for errors and status). */
  permittedNames(): readonly string[];
  signLeaf(req: LeafSignRequest): Promise<SignedLeaf>;
}

export interface LocalCaSignerOptions {
  caCertPem: string;
  caKeyPem: string;
  /** Whole validity of each leaf in days (notAfter - notBefore), at most 45 (the default). */
  leafValidityDays?: number | undefined;
}

/** Signs leaves with a CA whose key lives on this device (standalone and development mode). */
export class LocalCaSigner implements LeafSigner {
  readonly mode = 'local' as const;
  readonly #ca: CaAuthority;
  readonly #leafValidityDays: number | undefined;

  constructor(options: LocalCaSignerOptions) {
    this.#ca = prepareCaAuthority(options.caCertPem, options.caKeyPem);
    this.#leafValidityDays = options.leafValidityDays;
  }

  get caPem(): string {
    return this.#ca.certPem;
  }

  permits(host: string): boolean {
    return caPermits(this.#ca, normaliseHost(host));
  }

  permittedNames(): readonly string[] {
    return this.#ca.permitted;
  }

  signLeaf(req: LeafSignRequest): Promise<SignedLeaf> {
    // Synchronous work (forge structures, one native RSA signature); the promise keeps the seam
    // identical for the gateway signer, whose answer arrives over the network.
    try {
      for (const host of req.hosts) {
        if (!this.permits(host)) throw new HostNotPermittedError(host, this.#ca.permitted);
      }
      const csr = verifyCsr(req.csrPem);
      if (!samePublicKey(csr.publicKeyPem, req.publicKeyPem)) {
        throw new CsrRejectedError('the CSR is signed by a different key than the one the leaf is requested for');
      }
      return Promise.resolve(
        issueLeaf(this.#ca, { publicKeyPem: csr.publicKeyPem, hosts: req.hosts, validityDays: this.#leafValidityDays }),
      );
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }
}
