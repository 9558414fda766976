import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import {
  certificateFingerprintSha256,
  createLeafCsr,
  createNameConstrainedCa,
  CsrRejectedError,
  generateRsaKeyPair,
  HostNotPermittedError,
  signLeafFromCsr,
  UnusableCaError,
  type PemKeyPair,
} from '../../agent/src/tls/index.ts';
import { forgeLeafWithCaKey, forgeUnconstrainedCa, makeTempDirs, ROUTING_HOSTS, run, writeTemp } from './helpers.ts';

const DAY = 86_400_000;
const temp = makeTempDirs('heimdall-tls-certs-');
let dir: string;
let ca: { certPem: string; keyPem: string };
let caFile: string;
let leafKey: PemKeyPair;

beforeAll(async () => {
  dir = temp.make();
  [ca, leafKey] = await Promise.all([
    createNameConstrainedCa({ commonName: 'Heimdall Interception CA (test)', organization: 'Acme Corp', permittedDomains: ROUTING_HOSTS, validityDays: 1095 }),
    generateRsaKeyPair(),
  ]);
  caFile = writeTemp(dir, 'ca.pem', ca.certPem);
});
afterAll(() => temp.cleanup());

function mint(hosts: string[], options: { validityDays?: number } = {}): string {
  return signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem: createLeafCsr(hosts, leafKey), hosts, ...options }).certPem;
}

async function opensslVerify(leafPem: string, name: string): Promise<{ ok: boolean; output: string }> {
  const leafFile = writeTemp(dir, `${name}.pem`, leafPem);
  const r = await run('openssl', ['verify', '-CAfile', caFile, leafFile]);
  return { ok: r.code === 0 && r.stdout.includes(': OK'), output: r.stdout + r.stderr };
}

async function opensslText(pem: string, name: string): Promise<string> {
  const r = await run('openssl', ['x509', '-noout', '-text', '-in', writeTemp(dir, name, pem)]);
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('the name-constrained CA', () => {
  it('carries critical nameConstraints permitting only the intercepted domains, and excludes IP addresses', async () => {
    const text = await opensslText(ca.certPem, 'ca-text.pem');
    expect(text).toMatch(/X509v3 Name Constraints: critical\s+Permitted:\s+DNS:api\.openai\.com\s+DNS:api\.anthropic\.com\s+DNS:generativelanguage\.googleapis\.com\s+DNS:chatgpt\.com\s+DNS:claude\.ai\s+Excluded:\s+IP:0\.0\.0\.0\/0\.0\.0\.0\s+IP:0:0:0:0:0:0:0:0\/0:0:0:0:0:0:0:0\n/);
  });

  it('is a critical CA:TRUE pathlen 0 with critical keyCertSign+cRLSign, SHA-256, a subject key id and the organization', async () => {
    const text = await opensslText(ca.certPem, 'ca-text2.pem');
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/Subject: CN = Heimdall Interception CA \(test\), O = Acme Corp/);
  });

  it('reports the SHA-256 fingerprint exactly as openssl prints it', async () => {
    const r = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', caFile]);
    const printed = r.stdout.trim().split('=')[1];
    expect(certificateFingerprintSha256(ca.certPem)).toBe(printed);
    expect(printed).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });
});

describe('leaf certificates', () => {
  it('are accepted by openssl verify for every routing host and for a subdomain of one', async () => {
    for (const host of [...ROUTING_HOSTS, 'ab.chatgpt.com']) {
      const result = await opensslVerify(mint([host]), `leaf-${host}`);
      expect(result.output).toContain(': OK');
      expect(result.ok).toBe(true);
    }
  });

  it('carry SAN, EKU serverAuth, critical keyUsage, the CA key id as AKI and no SKI', async () => {
    const text = await opensslText(mint(['api.openai.com']), 'leaf-text.pem');
    expect(text).toMatch(/Subject: CN = api\.openai\.com\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \s+DNS:api\.openai\.com\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Server Authentication\n/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).not.toContain('Subject Key Identifier');
    const caSki = (await opensslText(ca.certPem, 'ca-ski.pem')).match(/Subject Key Identifier: \s+([0-9A-F:]+)/)?.[1];
    expect(caSki).toBeDefined();
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier: \\s+(keyid:)?${caSki}`));
  });

  it('are backdated one day and valid at most 45 days in total', () => {
    const before = Date.now();
    const leaf = new X509Certificate(mint(['api.anthropic.com']));
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    expect(notAfter - notBefore).toBeLessThanOrEqual(45 * DAY);
    expect(notAfter - notBefore).toBeGreaterThan(44 * DAY);
    // One day back, to the second (X.509 UTCTime has no milliseconds).
    expect(Math.abs(before - DAY - notBefore)).toBeLessThan(5_000);
  });

  it('get a random positive serial each time', () => {
    const a = new X509Certificate(mint(['claude.ai'])).serialNumber;
    const b = new X509Certificate(mint(['claude.ai'])).serialNumber;
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[4-7][0-9A-F]{31}$/);
  });

  it('refuse a validity above 45 days', () => {
    expect(() => mint(['claude.ai'], { validityDays: 46 })).toThrow(/at most 45 days/);
  });
});

describe('the name constraint holds against the CA key itself', () => {
  it('openssl rejects a leaf for www.bank.example signed directly with the CA key', async () => {
    const forged = forgeLeafWithCaKey(ca.certPem, ca.keyPem, [{ dns: 'www.bank.example' }]);
    const result = await opensslVerify(forged, 'forged-bank');
    expect(result.ok).toBe(false);
    expect(result.output).toContain('permitted subtree violation');
  });

  it('openssl rejects a look-alike suffix (evilapi.openai.com is not under api.openai.com)', async () => {
    const forged = forgeLeafWithCaKey(ca.certPem, ca.keyPem, [{ dns: 'evilapi.openai.com' }]);
    const result = await opensslVerify(forged, 'forged-suffix');
    expect(result.output).toContain('permitted subtree violation');
  });

  it('openssl rejects an IP-address leaf signed with the CA key (IP addresses are excluded)', async () => {
    const forged = forgeLeafWithCaKey(ca.certPem, ca.keyPem, [{ ip: '10.1.2.3' }]);
    const result = await opensslVerify(forged, 'forged-ip');
    expect(result.ok).toBe(false);
    expect(result.output).toContain('excluded subtree violation');
  });

  it('the same forging helper produces a leaf openssl accepts for a permitted name (the negative tests are meaningful)', async () => {
    const forged = forgeLeafWithCaKey(ca.certPem, ca.keyPem, [{ dns: 'api.openai.com' }]);
    expect((await opensslVerify(forged, 'forged-permitted')).ok).toBe(true);
  });
});

describe('CSRs and signLeafFromCsr', () => {
  it('creates CSRs that openssl verifies, requesting every host as SAN', async () => {
    const csr = createLeafCsr(['api.openai.com', 'chatgpt.com'], leafKey);
    const r = await run('openssl', ['req', '-verify', '-noout', '-text', '-in', writeTemp(dir, 'leaf.csr', csr)]);
    expect(r.stdout + r.stderr).toMatch(/verify OK/);
    expect(r.stdout).toMatch(/DNS:api\.openai\.com, DNS:chatgpt\.com/);
  });

  it('signs the CSR\'s requested hosts when no host list is given, with the CSR\'s key', () => {
    const csrPem = createLeafCsr(['api.openai.com', 'chatgpt.com'], leafKey);
    const leaf = new X509Certificate(signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem }).certPem);
    expect(leaf.subjectAltName).toBe('DNS:api.openai.com, DNS:chatgpt.com');
    expect(leaf.checkPrivateKey(createPrivateKey(leafKey.privateKeyPem))).toBe(true);
    expect(leaf.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
  });

  it('refuses a CSR whose signature does not verify', async () => {
    const csrPem = createLeafCsr(['api.openai.com'], leafKey);
    const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
    der[der.length - 1]! ^= 0x01; // last byte of the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    // openssl agrees that the request is bad.
    const r = await run('openssl', ['req', '-verify', '-noout', '-in', writeTemp(dir, 'tampered.csr', tampered)]);
    expect(r.stdout + r.stderr).not.toMatch(/verify OK/);
    expect(() => signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem: tampered, hosts: ['api.openai.com'] })).toThrow(CsrRejectedError);
    expect(() => signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem: tampered, hosts: ['api.openai.com'] })).toThrow(/signature does not verify/);
  });

  it('refuses hosts outside the CA\'s permitted subtrees, whether asked for or requested in the CSR', () => {
    const sign = (hosts: string[] | undefined, csrHosts: string[]) => () =>
      signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, csrPem: createLeafCsr(csrHosts, leafKey), hosts });
    expect(sign(['www.bank.example'], ['api.openai.com'])).toThrow(HostNotPermittedError);
    expect(sign(['www.bank.example'], ['api.openai.com'])).toThrow(/www\.bank\.example is outside the CA's permitted name subtrees/);
    expect(sign(undefined, ['www.bank.example'])).toThrow(HostNotPermittedError);
    expect(sign(['api.openai.com', 'www.bank.example'], ['api.openai.com'])).toThrow(HostNotPermittedError);
    expect(sign(['openai.com'], ['api.openai.com'])).toThrow(HostNotPermittedError);
    expect(sign(['api.openai.com.evil.example'], ['api.openai.com'])).toThrow(HostNotPermittedError);
    expect(sign(['10.0.0.1'], ['api.openai.com'])).toThrow(HostNotPermittedError);
    expect(sign(['*.openai.com'], ['api.openai.com'])).toThrow(/wildcards are not accepted/);
  });

  it('refuses to issue from a CA that has no name constraints', () => {
    const unconstrained = forgeUnconstrainedCa();
    expect(() =>
      signLeafFromCsr({ caCertPem: unconstrained.certPem, caKeyPem: unconstrained.keyPem, csrPem: createLeafCsr(['api.openai.com'], leafKey) }),
    ).toThrow(UnusableCaError);
  });

  it('refuses a CA key that does not belong to the CA certificate', async () => {
    const other = await createNameConstrainedCa({ commonName: 'other', permittedDomains: ['api.openai.com'] });
    expect(() =>
      signLeafFromCsr({ caCertPem: ca.certPem, caKeyPem: other.keyPem, csrPem: createLeafCsr(['api.openai.com'], leafKey) }),
    ).toThrow(/private key does not belong to the CA certificate/);
  });
});

describe('IP-address hosts', () => {
  it('get an IP SAN that openssl accepts when the CA lists the address', async () => {
    const ipCa = await createNameConstrainedCa({ commonName: 'ip test CA', permittedDomains: ['api.openai.com', '127.0.0.1', '::1'] });
    const ipCaFile = writeTemp(dir, 'ip-ca.pem', ipCa.certPem);
    for (const [name, ip] of [['v4', '127.0.0.1'], ['v6', '[::1]']] as const) {
      const leafPem = signLeafFromCsr({ caCertPem: ipCa.certPem, caKeyPem: ipCa.keyPem, csrPem: createLeafCsr([ip], leafKey), hosts: [ip] }).certPem;
      const r = await run('openssl', ['verify', '-CAfile', ipCaFile, writeTemp(dir, `ip-leaf-${name}.pem`, leafPem)]);
      expect(r.stdout + r.stderr).toContain(': OK');
      expect(new X509Certificate(leafPem).subjectAltName).toMatch(/^IP Address:(127\.0\.0\.1|0:0:0:0:0:0:0:1)$/);
    }
    expect(() =>
      signLeafFromCsr({ caCertPem: ipCa.certPem, caKeyPem: ipCa.keyPem, csrPem: createLeafCsr(['127.0.0.2'], leafKey), hosts: ['127.0.0.2'] }),
    ).toThrow(HostNotPermittedError);
  });
});
