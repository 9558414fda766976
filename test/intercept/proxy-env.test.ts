// `heimdall env` / `heimdall exec`: the variables, their quoting in real shells, the CA bundle, and
// a real child process run with them.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { NODE_WARNING_FLAG, appendOptions, applyProxyEnvironment, buildProxyEnvironment, formatShellExports, writeCaBundle } from '../../agent/src/intercept/index.ts';
import { detectShell, renderEnv } from '../../agent/src/cli/commands/env.ts';
import { execWithProxyEnvironment } from '../../agent/src/cli/commands/exec.ts';
import { createTestPki, tempDir } from './harness.ts';

const dir = tempDir('heimdall-env-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const input = { proxyUrl: 'http://127.0.0.1:18080', caCertPath: "/var/lib/heimdall/ca it's.pem", caBundlePath: '/var/lib/heimdall/ca-bundle.pem' };

describe('buildProxyEnvironment', () => {
  it('returns every variable terminal AI tools read, in a stable order', () => {
    const env = buildProxyEnvironment(input);
    expect(env.map(([k]) => k)).toEqual([
      'HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy', 'NO_PROXY', 'no_proxy', 'NODE_EXTRA_CA_CERTS', 'NODE_USE_ENV_PROXY',
      'NODE_OPTIONS', 'SSL_CERT_FILE', 'CODEX_CA_CERTIFICATE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE',
    ]);
    const map = Object.fromEntries(env);
    expect(map.NO_PROXY).toBe('localhost,127.0.0.1,::1');
    expect(map.NODE_EXTRA_CA_CERTS).toBe(input.caCertPath);
    expect(map.SSL_CERT_FILE).toBe(input.caBundlePath);
    expect(map.NODE_OPTIONS).toBe('--disable-warning=UNDICI-EHPA');
  });

  it('adds to the person\'s own NODE_OPTIONS instead of replacing them, once', () => {
    expect(appendOptions(undefined, NODE_WARNING_FLAG)).toBe(NODE_WARNING_FLAG);
    expect(appendOptions('  --max-old-space-size=256 ', NODE_WARNING_FLAG)).toBe(`--max-old-space-size=256 ${NODE_WARNING_FLAG}`);
    expect(appendOptions(`${NODE_WARNING_FLAG} --inspect`, NODE_WARNING_FLAG)).toBe(`${NODE_WARNING_FLAG} --inspect`);
    const env = applyProxyEnvironment({ NODE_OPTIONS: '--enable-source-maps', KEEP: 'me' }, input);
    expect(env['NODE_OPTIONS']).toBe(`--enable-source-maps ${NODE_WARNING_FLAG}`);
    expect(env['KEEP']).toBe('me');
    expect(env['HTTPS_PROXY']).toBe(input.proxyUrl);
  });
});

describe('formatShellExports', () => {
  const tricky: Array<[string, string]> = [['A', "it's $HOME `x` \"q\" \\n"], ['B', 'plain']];

  it('quotes values so sh reads them back exactly', () => {
    const script = `${formatShellExports(tricky, 'sh')}printf '%s|%s' "$A" "$B"`;
    expect(execFileSync('sh', ['-c', script], { encoding: 'utf8' })).toBe(`${tricky[0]![1]}|plain`);
  });

  it('writes fish and PowerShell syntax', () => {
    expect(formatShellExports([['X', "a'b"]], 'fish')).toBe("set -gx X 'a\\'b'\n");
    expect(formatShellExports([['X', "a'b"]], 'powershell')).toBe("$env:X = 'a''b'\n");
  });

  it('appends NODE_OPTIONS in every shell, once however often it is applied', () => {
    const line = formatShellExports([['NODE_OPTIONS', NODE_WARNING_FLAG]], 'sh');
    const run = (before: string): string => execFileSync('sh', ['-c', `${before}\n${line}${line}printf %s "$NODE_OPTIONS"`], { encoding: 'utf8' });
    expect(run('unset NODE_OPTIONS')).toBe(NODE_WARNING_FLAG);
    expect(run("export NODE_OPTIONS='--inspect'")).toBe(`--inspect ${NODE_WARNING_FLAG}`);
    expect(run(`set -u; export NODE_OPTIONS='${NODE_WARNING_FLAG}'`)).toBe(NODE_WARNING_FLAG);
    expect(formatShellExports([['NODE_OPTIONS', NODE_WARNING_FLAG]], 'fish')).toBe(
      `contains -- '${NODE_WARNING_FLAG}' (string split ' ' -- "$NODE_OPTIONS"); or set -gx NODE_OPTIONS (string trim -- "$NODE_OPTIONS "'${NODE_WARNING_FLAG}')\n`,
    );
    expect(formatShellExports([['NODE_OPTIONS', NODE_WARNING_FLAG]], 'powershell')).toBe(
      `if (" $env:NODE_OPTIONS " -notlike '* ${NODE_WARNING_FLAG} *') { $env:NODE_OPTIONS = ("$env:NODE_OPTIONS " + '${NODE_WARNING_FLAG}').Trim() }\n`,
    );
  });

  it('refuses a variable name a shell would misread', () => {
    expect(() => formatShellExports([['A;rm', 'x']], 'sh')).toThrow(/not valid/);
  });

  it('renders heimdall env output with a how-to line, for the detected shell', () => {
    expect(detectShell(undefined, { SHELL: '/usr/bin/fish' }, 'linux')).toBe('fish');
    expect(detectShell(undefined, {}, 'win32')).toBe('powershell');
    expect(() => detectShell('tcsh')).toThrow('--shell: expected one of "sh", "fish", "powershell", got "tcsh"');
    const out = renderEnv(input, 'sh');
    expect(out.split('\n')[0]).toContain('eval "$(heimdall env)"');
    expect(out).toContain("export NODE_USE_ENV_PROXY='1'");
  });
});

describe('writeCaBundle', () => {
  it('writes the system roots followed by our CA, so both verify', () => {
    const pki = createTestPki(dir);
    const leaf = pki.issue('leaf', ['svc.test']);
    fs.writeFileSync(path.join(dir, 'leaf-only.pem'), leaf.cert);
    return writeCaBundle(dir, pki.caPem).then(({ path: bundle, systemBundle }) => {
      const text = fs.readFileSync(bundle, 'utf8');
      expect(systemBundle).toBeDefined();
      expect(text.startsWith(fs.readFileSync(systemBundle!, 'utf8').trimEnd())).toBe(true);
      expect(text.trimEnd().endsWith(pki.caPem.trim())).toBe(true);
      expect(fs.statSync(bundle).mode & 0o777).toBe(0o644);
      expect(execFileSync('openssl', ['verify', '-CAfile', bundle, path.join(dir, 'leaf-only.pem')], { encoding: 'utf8' })).toContain('OK');
    });
  });

  it('falls back to Node roots when no system bundle exists', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'nosys-'));
    const { systemBundle, path: bundle } = await writeCaBundle(sub, '-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n', ['/nonexistent/bundle.pem']);
    expect(systemBundle).toBeUndefined();
    expect(fs.readFileSync(bundle, 'utf8').split('BEGIN CERTIFICATE').length).toBeGreaterThan(50);
  });
});

describe('execWithProxyEnvironment', () => {
  it('runs the command with the variables and returns its exit code', async () => {
    const out = path.join(dir, 'child.json');
    const code = await execWithProxyEnvironment(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.env)); process.exit(7)`], input, { stdio: 'pipe' });
    expect(code).toBe(7);
    const env = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(env.HTTPS_PROXY).toBe(input.proxyUrl);
    expect(env.NODE_USE_ENV_PROXY).toBe('1');
  });

  it('reports a child killed by a signal as 128 + signal', async () => {
    const code = await execWithProxyEnvironment(process.execPath, ['-e', "process.kill(process.pid, 'SIGTERM')"], input, { stdio: 'pipe' });
    expect(code).toBe(128 + 15);
  });

  it('says clearly when the command does not exist', async () => {
    await expect(execWithProxyEnvironment('no-such-command-heimdall', [], input, { stdio: 'pipe' })).rejects.toThrow(/command not found/);
  });
});
