// The gateway-held CA mode (Bifrost Edge model): the CA key never leaves the gateway; this signer
// sends the leaf's CSR over the sync channel and gets back a short-lived leaf and the CA. The CA is
// installed (written to the bundle apps trust) only when its critical name constraints keep it to
// the hosts this device intercepts: a gateway cannot make the fleet trust a CA for any other name.
import { X509Certificate } from 'node:crypto';
import { caConstraintProblem, type LeafSigner, type LeafSignRequest, type SignedLeaf } from '../tls/index.ts';
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
  /** The last CA that passed the check (leaves of one CA arrive many times). */
  #checkedCa: string | undefined;

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
    if (answer.ca_pem !== this.#checkedCa) {
      const problem = caConstraintProblem(answer.ca_pem, [...this.#permitted]);
      if (problem) throw new Error(`refusing the gateway's CA: ${problem}; an administrator must give the gateway a name-constrained CA (heimdall-gateway ca generate)`);
      this.#checkedCa = answer.ca_pem;
    }
    const leaf = new X509Certificate(answer.cert_pem);
    if (!leaf.checkIssued(new X509Certificate(answer.ca_pem))) throw new Error('the gateway sent a leaf its CA did not issue');
    this.#options.onCaCertificate?.(answer.ca_pem);
    return { certPem: answer.cert_pem, caPem: answer.ca_pem, notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo) };
  }
}
