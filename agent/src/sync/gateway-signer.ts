// The gateway-held CA mode (Bifrost Edge model): the CA key never leaves the gateway; this signer
// sends the leaf's CSR over the sync channel and gets back a short-lived leaf and the CA.
import { X509Certificate } from 'node:crypto';
import type { LeafSigner, LeafSignRequest, SignedLeaf } from '../tls/index.ts';
import type { SyncClient } from './client.ts';

export interface GatewayCaSignerOptions {
  sync: Pick<SyncClient, 'requestCertificate'>;
  /** Hosts this device intercepts; the gateway CA's own constraints decide the rest. */
  permittedHosts: readonly string[];
  /** Told about the CA each time a leaf arrives, so the CA bundle for apps can be written. */
  onCaCertificate?: (caPem: string) => void;
}

export class GatewayCaSigner implements LeafSigner {
  readonly mode = 'gateway' as const;
  readonly #options: GatewayCaSignerOptions;
  readonly #permitted: ReadonlySet<string>;

  constructor(options: GatewayCaSignerOptions) {
    this.#options = options;
    this.#permitted = new Set(options.permittedHosts);
  }

  permits(host: string): boolean {
    return this.#permitted.has(host);
  }

  permittedNames(): readonly string[] {
    return [...this.#permitted];
  }

  async signLeaf(req: LeafSignRequest): Promise<SignedLeaf> {
    const answer = await this.#options.sync.requestCertificate(req.csrPem, req.hosts);
    if (!answer.ok) throw new Error(`the gateway refused to sign a leaf for ${req.hosts.join(', ')}: ${answer.error.code}: ${answer.error.message}`);
    const leaf = new X509Certificate(answer.cert_pem);
    this.#options.onCaCertificate?.(answer.ca_pem);
    return { certPem: answer.cert_pem, caPem: answer.ca_pem, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
  }
}
