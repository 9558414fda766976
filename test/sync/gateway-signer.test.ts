// The gateway-held CA mode's trust check (issue 15 attack 3): the agent installs the CA a gateway
// sends only when critical name constraints limit it to the hosts this device intercepts. The CAs
// refused here are made by openssl, as anyone holding a gateway could make them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayCaSigner } from '../../agent/src/sync/index.ts';
import { createLeafCsr, createNameConstrainedCa, generateRsaKeyPair, signLeafFromCsr } from '../../lib/index.ts';
import { INTERCEPTED_HOSTS, type CertMessage } from '../../protocol/index.ts';

let dir: string;
let good: { certPem: string; leafPem: string };
let csrPem: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-signer-'));
  const ca = await createNameConstrainedCa({ commonName: 'Gateway CA', permittedDomains: [...INTERCEPTED_HOSTS] });
  csrPem = createLeafCsr(['api.openai.com'], await generateRsaKeyPair());
  good = { certPem: ca.certPem, leafPem: signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem, hosts: ['api.openai.com'], validityDays: 4 }).certPem };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A self-signed CA made by openssl with the given extra extensions. */
function opensslCa(name: string, extensions: string[]): string {
  const cert = path.join(dir, `${name}.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-days', '2',
    '-keyout', path.join(dir, `${name}.key`), '-out', cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ...extensions.flatMap((e) => ['-addext', e]),
  ], { stdio: 'ignore' });
  return readFileSync(cert, 'utf8');
}

function signerAnswering(caPem: string, leafPem = good.leafPem): { signer: GatewayCaSigner; installed: string[] } {
  const installed: string[] = [];
  const answer: CertMessage = { type: 'cert', id: 'c1', ok: true, cert_pem: leafPem, ca_pem: caPem, not_after: new Date(Date.now() + 86_400_000).toISOString() };
  const signer = new GatewayCaSigner({ sync: { requestCertificate: () => Promise.resolve(answer) }, permittedHosts: INTERCEPTED_HOSTS, onCaCertificate: (pem) => installed.push(pem) });
  return { signer, installed };
}

describe('GatewayCaSigner', () => {
  it('installs a CA whose critical name constraints are the intercepted hosts, and uses its leaf', async () => {
    const { signer, installed } = signerAnswering(good.certPem);
    const leaf = await signer.signLeaf({ csrPem, publicKeyPem: '', hosts: ['api.openai.com'] });
    expect(leaf.certPem).toBe(good.leafPem);
    expect(installed).toEqual([good.certPem]);
  });

  it('refuses a gateway CA without critical name constraints limited to the intercepted hosts', async () => {
    const cases: [string, string, RegExp][] = [
      ['unconstrained', opensslCa('unconstrained', []), /no nameConstraints extension/],
      ['not critical', opensslCa('noncritical', ['nameConstraints=permitted;DNS:api.openai.com,excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0']), /not critical/],
      ['a whole TLD', opensslCa('tld', ['nameConstraints=critical,permitted;DNS:com,excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:0:0:0:0:0:0:0:0/0:0:0:0:0:0:0:0']), /outside the intercepted hosts: com/],
      ['IP addresses open', opensslCa('ipopen', ['nameConstraints=critical,permitted;DNS:api.openai.com']), /does not exclude IP addresses/],
    ];
    for (const [what, caPem, reason] of cases) {
      const { signer, installed } = signerAnswering(caPem);
      await expect(signer.signLeaf({ csrPem, publicKeyPem: '', hosts: ['api.openai.com'] }), what).rejects.toThrow(reason);
      expect(installed, what).toEqual([]);
    }
  });

  it('refuses a leaf the CA it came with did not issue', async () => {
    const other = await createNameConstrainedCa({ commonName: 'Other CA', permittedDomains: ['api.openai.com'] });
    const { signer, installed } = signerAnswering(other.certPem);
    await expect(signer.signLeaf({ csrPem, publicKeyPem: '', hosts: ['api.openai.com'] })).rejects.toThrow(/did not issue/);
    expect(installed).toEqual([]);
  });
});
