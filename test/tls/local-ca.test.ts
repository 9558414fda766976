import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import {
  CA_CERT_FILE_NAME,
  CA_KEY_FILE_NAME,
  createLeafCsr,
  createNameConstrainedCa,
  formatCaField,
  generateRsaKeyPair,
  loadOrCreateLocalCa,
  readCaDescription,
} from '../../agent/src/tls/index.ts';
import { captureLogs, makeTempDirs, ROUTING_HOSTS, run } from './helpers.ts';

const temp = makeTempDirs('heimdall-tls-ca-');
afterEach(() => temp.cleanup());

function stateDir(): string {
  return path.join(temp.make(), 'state');
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

function warnings(lines: Record<string, unknown>[]): Record<string, unknown>[] {
  return lines.filter((l) => l.level === 'warn');
}

describe('loadOrCreateLocalCa', () => {
  it('creates ca.pem (0644) and a 0600 key in a 0700 state directory on first start, without a warning', async () => {
    const dir = stateDir();
    const { logger, lines } = captureLogs();
    const ca = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, organization: 'Acme Corp', hostname: 'laptop-7', logger });
    expect(ca.created).toBe(true);
    expect(ca.certPath).toBe(path.join(dir, CA_CERT_FILE_NAME));
    expect(mode(dir)).toBe(0o700);
    expect(mode(ca.certPath)).toBe(0o644);
    expect(mode(path.join(dir, CA_KEY_FILE_NAME))).toBe(0o600);
    expect(readFileSync(ca.certPath, 'utf8')).toBe(ca.certPem);
    expect(ca.permittedNames).toEqual(ROUTING_HOSTS);
    expect(warnings(lines())).toEqual([]);
    expect(lines().some((l) => l.event === 'tls.ca.created' && l.fingerprint === ca.fingerprintSha256)).toBe(true);
    const subject = await run('openssl', ['x509', '-noout', '-subject', '-in', ca.certPath]);
    expect(subject.stdout.trim()).toBe('subject=CN = Heimdall Interception CA (laptop-7), O = Acme Corp');
    const years = (ca.notAfter.getTime() - Date.now()) / (365 * 86_400_000);
    expect(years).toBeGreaterThanOrEqual(2);
    expect(years).toBeLessThanOrEqual(5);
  });

  it('loads the same CA on the next start: same fingerprint, no regeneration, no warning', async () => {
    const dir = stateDir();
    const first = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger });
    expect(second.created).toBe(false);
    expect(second.fingerprintSha256).toBe(first.fingerprintSha256);
    expect(warnings(lines())).toEqual([]);
    expect(lines().some((l) => l.event === 'tls.ca.loaded')).toBe(true);
  });

  it('keeps the CA when asked for fewer domains than it covers', async () => {
    const dir = stateDir();
    const first = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ['API.OpenAI.com', 'sub.claude.ai'], logger: silentLogger() });
    expect(second.fingerprintSha256).toBe(first.fingerprintSha256);
  });

  it('regenerates with a warning when the key is missing', async () => {
    const dir = stateDir();
    const first = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    rmSync(path.join(dir, CA_KEY_FILE_NAME));
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger });
    expect(second.created).toBe(true);
    expect(second.fingerprintSha256).not.toBe(first.fingerprintSha256);
    const [warn] = warnings(lines());
    expect(warn).toMatchObject({ event: 'tls.ca.regenerated', previous_fingerprint: first.fingerprintSha256, fingerprint: second.fingerprintSha256 });
    expect(String(warn?.reason)).toMatch(/CA key .* is missing/);
    expect(mode(path.join(dir, CA_KEY_FILE_NAME))).toBe(0o600);
  });

  it('regenerates with a warning when ca.pem is corrupt', async () => {
    const dir = stateDir();
    const first = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    writeFileSync(first.certPath, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger });
    expect(second.created).toBe(true);
    expect(String(warnings(lines())[0]?.reason)).toMatch(/cannot be parsed/);
    const verify = await run('openssl', ['x509', '-noout', '-in', second.certPath]);
    expect(verify.code).toBe(0);
  });

  it('regenerates when the key on disk belongs to another certificate', async () => {
    const dir = stateDir();
    await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    writeFileSync(path.join(dir, CA_KEY_FILE_NAME), (await generateRsaKeyPair()).privateKeyPem, { mode: 0o600 });
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger });
    expect(second.created).toBe(true);
    expect(String(warnings(lines())[0]?.reason)).toMatch(/private key does not belong/);
  });

  it('regenerates when the CA expires within 30 days', async () => {
    const dir = stateDir();
    await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    const short = await createNameConstrainedCa({ commonName: 'short-lived', permittedDomains: ROUTING_HOSTS, validityDays: 20 });
    writeFileSync(path.join(dir, CA_KEY_FILE_NAME), short.keyPem, { mode: 0o600 });
    writeFileSync(path.join(dir, CA_CERT_FILE_NAME), short.certPem);
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger });
    expect(second.created).toBe(true);
    expect(String(warnings(lines())[0]?.reason)).toMatch(/within 30 days/);
  });

  it('regenerates when its name constraints do not cover a requested domain', async () => {
    const dir = stateDir();
    const first = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ['api.openai.com'], logger: silentLogger() });
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ['api.openai.com', 'api.anthropic.com'], logger });
    expect(second.fingerprintSha256).not.toBe(first.fingerprintSha256);
    expect(second.permittedNames).toEqual(['api.openai.com', 'api.anthropic.com']);
    expect(String(warnings(lines())[0]?.reason)).toMatch(/do not cover api\.anthropic\.com/);
  });

  it('tightens a key file that others can read back to 0600', async () => {
    const dir = stateDir();
    const first = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    chmodSync(first.keyPath, 0o644);
    const { logger, lines } = captureLogs();
    const second = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger });
    expect(second.fingerprintSha256).toBe(first.fingerprintSha256);
    expect(mode(first.keyPath)).toBe(0o600);
    expect(warnings(lines())[0]).toMatchObject({ event: 'tls.ca.key_mode_fixed' });
  });

  it('hands back a signer whose leaves openssl accepts against the ca.pem on disk', async () => {
    const dir = stateDir();
    const ca = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    const key = await generateRsaKeyPair();
    const leaf = await ca.signer.signLeaf({ hosts: ['chatgpt.com'], csrPem: createLeafCsr(['chatgpt.com'], key), publicKeyPem: key.publicKeyPem });
    const leafFile = path.join(dir, 'leaf.pem');
    writeFileSync(leafFile, leaf.certPem);
    const r = await run('openssl', ['verify', '-CAfile', ca.certPath, leafFile]);
    expect(r.stdout).toContain(': OK');
    expect(leaf.caPem).toBe(ca.certPem);
    expect(ca.signer.mode).toBe('local');
  });

  it('refuses a signing request whose CSR was made with another key', async () => {
    const ca = await loadOrCreateLocalCa({ stateDir: stateDir(), permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    const [a, b] = await Promise.all([generateRsaKeyPair(), generateRsaKeyPair()]);
    await expect(ca.signer.signLeaf({ hosts: ['chatgpt.com'], csrPem: createLeafCsr(['chatgpt.com'], a), publicKeyPem: b.publicKeyPem })).rejects.toThrow(
      /signed by a different key/,
    );
  });
});

describe('heimdall ca path|pem|fingerprint', () => {
  it('prints the path, the PEM and the fingerprint an admin needs, matching openssl', async () => {
    const dir = stateDir();
    const ca = await loadOrCreateLocalCa({ stateDir: dir, permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
    const description = await readCaDescription(dir);
    expect(formatCaField(description, 'path')).toBe(`${ca.certPath}\n`);
    expect(formatCaField(description, 'pem')).toBe(readFileSync(ca.certPath, 'utf8'));
    const openssl = await run('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', ca.certPath]);
    expect(formatCaField(description, 'fingerprint')).toBe(`${openssl.stdout.trim().split('=')[1]}\n`);
    expect(description.permittedNames).toEqual(ROUTING_HOSTS);
    expect(description.subject).toMatch(/^CN=Heimdall Interception CA/);
  });

  it('explains what to do when no CA exists yet', async () => {
    const dir = stateDir();
    expect(existsSync(dir)).toBe(false);
    await expect(readCaDescription(dir)).rejects.toThrow(/no Heimdall CA at .*ca\.pem: the daemon creates it when it starts/);
  });
});
