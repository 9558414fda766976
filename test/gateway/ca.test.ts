// The gateway-held CA: generated name-constrained, exported with its fingerprint, and signing leaves
// for agents over the channel that `openssl verify` accepts (and refusing hosts outside the constraints).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLeafCsr, createNameConstrainedCa, generateRsaKeyPair } from '../../lib/index.ts';
import { enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let dir: string;
beforeAll(async () => {
  gw = await startTestGateway();
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-ca-'));
});
afterAll(async () => {
  await gw.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway-held CA', () => {
  it('answers cert.sign with no_ca before a CA exists', async () => {
    const { token } = await enrolledDevice(gw, 'dev-noca');
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-noca');
    const keys = await generateRsaKeyPair();
    p.send({ type: 'cert.sign', id: 'c0', csr_pem: createLeafCsr(['api.openai.com'], keys), hosts: ['api.openai.com'] });
    expect(await p.next('cert')).toMatchObject({ id: 'c0', ok: false, error: { code: 'no_ca' } });
    expect((await gw.admin('GET', 'ca')).status).toBe(404);
    p.close();
  });

  it('signs a short leaf (3 days ahead) that openssl verifies against the exported CA', async () => {
    const generated = await gw.admin('POST', 'ca/generate', { domains: ['api.openai.com', 'api.anthropic.com'], organization: 'Example Corp' });
    expect(generated.status).toBe(201);
    const exported = (await gw.admin('GET', 'ca')).body;
    expect(exported.permitted).toEqual(['api.openai.com', 'api.anthropic.com']);
    const caFile = path.join(dir, 'ca.pem');
    writeFileSync(caFile, exported.cert_pem);
    const fp = execFileSync('openssl', ['x509', '-in', caFile, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
    expect(fp.trim().split('=')[1]).toBe(exported.fingerprint_sha256);

    const { token } = await enrolledDevice(gw, 'dev-ca');
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-ca');
    const keys = await generateRsaKeyPair();
    p.send({ type: 'cert.sign', id: 'c1', csr_pem: createLeafCsr(['api.openai.com'], keys), hosts: ['api.openai.com'] });
    const cert = await p.next('cert');
    if (!cert.ok) throw new Error(`signing failed: ${cert.error.message}`);
    expect(cert.ca_pem.trim()).toBe(exported.cert_pem.trim());
    const leafFile = path.join(dir, 'leaf.pem');
    writeFileSync(leafFile, cert.cert_pem);
    const verified = execFileSync('openssl', ['verify', '-CAfile', caFile, '-purpose', 'sslserver', '-verify_hostname', 'api.openai.com', leafFile], { encoding: 'utf8' });
    expect(verified.trim()).toBe(`${leafFile}: OK`);
    const days = (Date.parse(cert.not_after) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(2.9);
    expect(days).toBeLessThanOrEqual(3);

    p.send({ type: 'cert.sign', id: 'c2', csr_pem: createLeafCsr(['www.bank.example'], keys), hosts: ['www.bank.example'] });
    expect(await p.next('cert', (m) => m.id === 'c2')).toMatchObject({ ok: false, error: { code: 'host_not_permitted' } });
    p.send({ type: 'cert.sign', id: 'c3', csr_pem: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', hosts: ['api.openai.com'] });
    expect(await p.next('cert', (m) => m.id === 'c3')).toMatchObject({ ok: false, error: { code: 'bad_csr' } });
    p.close();
  });

  it('accepts an uploaded name-constrained CA and refuses a mismatched key, naming the field', async () => {
    const ca = await createNameConstrainedCa({ commonName: 'Uploaded CA', permittedDomains: ['api.openai.com'] });
    const other = await generateRsaKeyPair();
    const mismatch = await gw.admin('PUT', 'ca', { cert_pem: ca.certPem, key_pem: other.privateKeyPem });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error.field).toBe('key_pem');
    const notPem = await gw.admin('PUT', 'ca', { cert_pem: 'nope', key_pem: ca.keyPem });
    expect(notPem.body.error.field).toBe('cert_pem');
    const ok = await gw.admin('PUT', 'ca', { cert_pem: ca.certPem, key_pem: ca.keyPem });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ source: 'uploaded', permitted: ['api.openai.com'] });
  });
});
