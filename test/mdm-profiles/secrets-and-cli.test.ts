import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { exampleGuides, VENDORS } from '../../mdm-profiles/src/index.ts';
import { REPO_ROOT, runToEnd } from '../helpers/process.ts';
import { cleanup, realMsi, tempDir, throwawayCa } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => cleanup(dirs));

const MDM_BIN = path.join(REPO_ROOT, 'bin/heimdall-mdm.js');
const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/**
 * Every form a key's secret material could take in a file: PEM body lines, DER, base64 of DER.
 * Taken from the end of the key, where the private primes are (its start holds the public modulus,
 * which the certificate rightly carries).
 */
function keyForms(keyFile: string): Buffer[] {
  const der = execFileSync('openssl', ['pkey', '-in', keyFile, '-outform', 'DER']);
  const body = readFileSync(keyFile, 'utf8').split('\n').filter((l) => l && !l.startsWith('-----'));
  const b64 = der.toString('base64');
  return [der.subarray(der.length - 64), Buffer.from(b64.slice(b64.length - 120, b64.length - 56)), ...body.slice(-4, -1).map((l) => Buffer.from(l))];
}

async function generateEverything() {
  const dir = tempDir(dirs);
  const ca = throwawayCa(dir, 'Acme Fleet CA');
  const signer = throwawayCa(dir, 'Acme Profile Signing');
  const msi = realMsi(dir, undefined, `heimdall-${VERSION}-win-x64.msi`);
  const claude = path.join(dir, 'managed-settings.json');
  writeFileSync(claude, JSON.stringify({ permissions: { deny: ['WebFetch'] } }));
  const out = path.join(dir, 'out');
  const result = await runToEnd(process.execPath, [
    MDM_BIN, 'generate', '--gateway', 'https://ai-gw.acme.example', '--org', 'Acme Corp', '--ca', ca.certFile,
    '--support-url', 'https://help.acme.example', '--package', msi, '--package-url', 'https://downloads.acme.example/heimdall',
    '--app-settings', `claude-code=${claude}`, '--sign-cert', signer.certFile, '--sign-key', signer.keyFile, '--out', out,
  ]);
  return { result, out, ca, signer };
}

describe('heimdall-mdm generate', { timeout: 60_000 }, () => { // each case runs the command, which loads its TypeScript sources
  it('writes every vendor\'s guide and files, none of which carries a private key or a credential', async () => {
    const { result, out, ca, signer } = await generateEverything();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const files = walk(out);
    for (const v of VENDORS) expect(files).toContain(path.join(out, v.id, 'README.md'));
    expect(files).toContain(path.join(out, `intune/heimdall-${VERSION}-win-x64.intunewin`));
    const forms = [...keyForms(ca.keyFile), ...keyForms(signer.keyFile)];
    // The scan looks for real material: the PEM forms are found in the key file itself.
    for (const f of keyForms(signer.keyFile).slice(2)) expect(readFileSync(signer.keyFile).includes(f)).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file);
      // The .intunewin's content keys are Intune's to decrypt the public MSI with; its container is
      // compressed, so it is scanned through unzip below instead.
      const text = bytes.toString('latin1');
      expect(text, file).not.toMatch(/PRIVATE KEY|BEGIN ENCRYPTED|client_secret|api[_-]?key|password|bearer |sk-[A-Za-z0-9]{20}|enrollment[_-]?token/i);
      for (const form of forms) expect(bytes.includes(form), `${file} holds private key material`).toBe(false);
      expect(statSync(file).mode & 0o022, `${file} is writable by others`).toBe(0);
    }
    const detection = execFileSync('unzip', ['-p', path.join(out, `intune/heimdall-${VERSION}-win-x64.intunewin`), 'IntuneWinPackage/Metadata/Detection.xml'], { encoding: 'utf8' });
    expect(detection).not.toMatch(/PRIVATE KEY/);
  });

  it('every generated script, role and data file is valid in its own language', async () => {
    const { out } = await generateEverything();
    const files = walk(out);
    const byExt = (ext: string) => files.filter((f) => f.endsWith(ext));
    expect(byExt('.sh').length).toBeGreaterThanOrEqual(6);
    for (const f of byExt('.sh')) execFileSync('bash', ['-n', f]);
    for (const f of byExt('.json')) expect(() => JSON.parse(readFileSync(f, 'utf8')) as unknown, f).not.toThrow();
    const tasks = parseYaml(readFileSync(path.join(out, 'linux/ansible/roles/heimdall/tasks/main.yml'), 'utf8')) as Array<Record<string, unknown>>;
    expect(tasks.map((t) => t['name'])).toContain('Managed settings');
    expect(JSON.parse(readFileSync(path.join(out, 'linux/ansible/roles/heimdall/files/config.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(path.join(out, 'linux/config.json'), 'utf8')));
    for (const f of byExt('.yml')) expect(() => parseYaml(readFileSync(f, 'utf8')) as unknown, f).not.toThrow();
    // The install scripts verify the package they download against the SHA-256 of the one given here.
    const msiSha = execFileSync('sha256sum', [path.join(path.dirname(out), `heimdall-${VERSION}-win-x64.msi`)], { encoding: 'utf8' }).split(' ')[0]!;
    expect(readFileSync(path.join(out, 'jumpcloud/windows-install.ps1'), 'utf8')).toContain(`$Sha256 = '${msiSha}'`);
  });

  it('the shell installers refuse a package whose SHA-256 is not the one given to the generator', async () => {
    const { out } = await generateEverything();
    const dir = path.dirname(out);
    const good = path.join(dir, 'good.bin');
    writeFileSync(good, 'the package');
    const sha = execFileSync('sha256sum', [good], { encoding: 'utf8' }).split(' ')[0]!;
    for (const script of ['linux/install.sh', 'jumpcloud/macos-install.sh']) {
      // Only the script's own fetch_package function, run on local files (no download, no install).
      const fetch = `eval "$(sed -n '/^fetch_package()/,/^}/p' ${path.join(out, script)})"; fetch_package "" "$1" "$2"`;
      expect((await runToEnd('bash', ['-c', fetch, 'x', good, sha])).code, script).toBe(0);
      const bad = await runToEnd('bash', ['-c', fetch, 'x', good, '0'.repeat(64)]);
      expect([bad.code, bad.stderr.trim()], script).toEqual([1, `heimdall: ${good} has SHA-256 ${sha}, expected ${'0'.repeat(64)}; not installing it`]);
      const missing = await runToEnd('bash', ['-c', fetch, 'x', path.join(dir, 'absent.deb'), '']);
      expect(missing.stderr, script).toContain('is missing; attach it to this command or generate with --package-url');
    }
  });

  it('every file a guide names exists in the output', async () => {
    const { out } = await generateEverything();
    for (const v of VENDORS) {
      const guide = readFileSync(path.join(out, v.id, 'README.md'), 'utf8');
      const named = [...guide.matchAll(new RegExp(`\`${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/([^\`]+)\``, 'g'))].map((m) => m[1]!);
      expect(named.length, v.id).toBeGreaterThan(0);
      for (const rel of named) expect(statSync(path.join(out, rel.replace(/\/$/, ''))).isFile() || statSync(path.join(out, rel)).isDirectory(), `${v.id} names ${rel}`).toBe(true);
    }
  });

  it('refuses a CA file that holds the CA\'s private key, and a gateway URL the agent would reject, saying what to pass', async () => {
    const dir = tempDir(dirs);
    const ca = throwawayCa(dir, 'Acme Fleet CA');
    const bundle = path.join(dir, 'bundle.pem');
    writeFileSync(bundle, ca.certPem + ca.keyPem);
    const withKey = await runToEnd(process.execPath, [MDM_BIN, 'generate', '--gateway', 'https://gw.acme.example', '--org', 'Acme', '--ca', bundle, '--out', path.join(dir, 'o1')]);
    expect(withKey.code).toBe(2);
    expect(withKey.stderr).toContain('--ca: the file holds a private key; pass the CA certificate alone');
    const badUrl = await runToEnd(process.execPath, [MDM_BIN, 'generate', '--gateway', 'ftp://gw.acme.example', '--org', 'Acme', '--out', path.join(dir, 'o2')]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('config key "gateway_url" in the generator inputs: expected a URL (https, http), got "ftp://gw.acme.example"');
    const leafOnly = path.join(dir, 'leaf.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'leaf.key'), '-out', leafOnly, '-days', '1', '-subj', '/CN=leaf', '-addext', 'basicConstraints=critical,CA:FALSE'], { stdio: 'ignore' });
    const notCa = await runToEnd(process.execPath, [MDM_BIN, 'generate', '--gateway', 'https://gw.acme.example', '--org', 'Acme', '--ca', leafOnly, '--out', path.join(dir, 'o3')]);
    expect(notCa.stderr).toContain('is not a CA');
  });

  it('carries --local-target-allowed into every platform\'s settings, and refuses an entry the agent would refuse', async () => {
    const dir = tempDir(dirs);
    const out = path.join(dir, 'out');
    const ok = await runToEnd(process.execPath, [MDM_BIN, 'generate', '--gateway', 'https://gw.acme.example', '--org', 'Acme', '--local-target-allowed', '127.1:5432', '--local-target-allowed', '[::1]:8080', '--out', out]);
    expect(ok.stderr).toBe('');
    const linux = JSON.parse(readFileSync(path.join(out, 'linux/config.json'), 'utf8')) as Record<string, unknown>;
    expect(linux['local_targets_allowed']).toEqual(['127.0.0.1:5432', '[::1]:8080']);
    const bad = await runToEnd(process.execPath, [MDM_BIN, 'generate', '--gateway', 'https://gw.acme.example', '--org', 'Acme', '--local-target-allowed', 'db.internal:5432', '--out', path.join(dir, 'o2')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('config key "local_targets_allowed" in the generator inputs: expected a list of at most 64 entries, each ADDRESS:PORT, [IPV6]:PORT or an address alone, got a list with the entry "db.internal:5432"');
  });
});

describe('docs/deployment', () => {
  it('holds one guide per vendor, exactly as `heimdall-mdm docs` writes it today', () => {
    for (const guide of exampleGuides(VERSION)) {
      expect(readFileSync(path.join(REPO_ROOT, 'docs/deployment', guide.path), 'utf8'), `docs/deployment/${guide.path} is stale: run node bin/heimdall-mdm.js docs docs/deployment`).toBe(guide.content);
    }
    // Beside the generated vendor guides, the packaging docs are written by hand.
    const handWritten = new Set(['README.md', 'packages.md', 'install.md', 'health-checks.md']);
    expect(readdirSync(path.join(REPO_ROOT, 'docs/deployment')).filter((f) => !handWritten.has(f)).sort()).toEqual(VENDORS.map((v) => `${v.id}.md`).sort());
  });
});
