// The CA list for https next hops: every root once, none lost.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { linuxSystemRoots, trustedRoots } from '../../agent/src/forward/trusted-roots.ts';

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;
const osStore = (tls as unknown as { getCACertificates(type: string): string[] }).getCACertificates('system');

describe('trustedRoots', () => {
  it('keeps each certificate of the bundled roots and the OS store exactly once', () => {
    const roots = trustedRoots(undefined);
    const fingerprints = roots.map(fingerprint);
    expect(new Set(fingerprints).size).toBe(fingerprints.length);
    const have = new Set(fingerprints);
    for (const pem of [...tls.rootCertificates, ...osStore]) expect(have.has(fingerprint(pem))).toBe(true);
  });

  it('collapses the same certificate written with other line wrapping', () => {
    const root = tls.rootCertificates[0]!;
    const body = root.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const rewrapped = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,76}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    const roots = trustedRoots(undefined, [rewrapped, rewrapped]);
    expect(roots.filter((pem) => fingerprint(pem) === fingerprint(root))).toHaveLength(1);
    expect(roots).toHaveLength(tls.rootCertificates.length);
  });

  it('adds every certificate of an extra PEM bundle', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-roots-'));
    try {
      const ca = (name: string): string => {
        execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, `${name}.key`),
          '-out', path.join(dir, `${name}.pem`), '-days', '1', '-subj', `/CN=${name}`], { stdio: 'pipe' });
        return fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8');
      };
      const [one, two] = [ca('private-one'), ca('private-two')];
      const roots = trustedRoots(`${one}${two}`, []);
      expect(roots).toHaveLength(tls.rootCertificates.length + 2);
      const have = new Set(roots.map(fingerprint));
      expect(have.has(fingerprint(one)) && have.has(fingerprint(two))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('linuxSystemRoots', () => {
  const [a, b, c] = [tls.rootCertificates[3]!, tls.rootCertificates[4]!, tls.rootCertificates[5]!];

  it('reads SSL_CERT_FILE first, else the first distribution bundle that exists, plus SSL_CERT_DIR', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-roots-'));
    try {
      fs.writeFileSync(path.join(dir, 'env.pem'), a);
      fs.writeFileSync(path.join(dir, 'distro.crt'), `${b}\n${c}`);
      fs.mkdirSync(path.join(dir, 'certs'));
      fs.writeFileSync(path.join(dir, 'certs', 'local.pem'), c);
      fs.writeFileSync(path.join(dir, 'certs', 'README'), 'not a certificate');
      const candidates = [path.join(dir, 'missing.crt'), path.join(dir, 'distro.crt')];
      const fps = (pems: string[]): string[] => pems.map(fingerprint);
      expect(fps(linuxSystemRoots({ SSL_CERT_FILE: path.join(dir, 'env.pem') }, candidates))).toEqual(fps([a]));
      expect(fps(linuxSystemRoots({}, candidates))).toEqual(fps([b, c]));
      expect(fps(linuxSystemRoots({ SSL_CERT_FILE: path.join(dir, 'nope.pem'), SSL_CERT_DIR: path.join(dir, 'certs') }, candidates))).toEqual(fps([b, c, c]));
      expect(linuxSystemRoots({}, [path.join(dir, 'missing.crt')])).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
