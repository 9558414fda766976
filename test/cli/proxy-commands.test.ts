import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

let dir: string;
let stateDir: string;
let daemon: RunningProcess;

const heimdall = (...args: string[]): ReturnType<typeof runToEnd> => runToEnd(process.execPath, [HEIMDALL_BIN, ...args, '--state-dir', stateDir]);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-cli-proxy-'));
  stateDir = path.join(dir, 'state');
  const config = path.join(dir, 'config.json');
  // A gateway that is not there: the proxy and the CA do not depend on reaching it.
  writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9', organization: 'Acme' }));
  daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(await freePort())]);
  await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));
});

afterAll(async () => {
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  rmSync(dir, { recursive: true, force: true });
});

describe('heimdall ca / env / exec against a running daemon', () => {
  it('prints the CA path, PEM and a fingerprint that openssl agrees with', async () => {
    const caPath = (await heimdall('ca', 'path')).stdout.trim();
    expect(statSync(caPath).mode & 0o777).toBe(0o644);
    const pem = (await heimdall('ca', 'pem')).stdout;
    expect(pem).toBe(readFileSync(caPath, 'utf8'));
    const fingerprint = (await heimdall('ca', 'fingerprint')).stdout.trim();
    const openssl = await runToEnd('openssl', ['x509', '-noout', '-fingerprint', '-sha256', '-in', caPath]);
    expect(openssl.stdout.trim()).toBe(`sha256 Fingerprint=${fingerprint}`);
    const bad = await heimdall('ca', 'key');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected one of "path", "pem", "fingerprint", got "key"');
  });

  it('prints shell exports that point at the running proxy and a bundle holding the CA', async () => {
    const env = await heimdall('env', '--shell', 'sh');
    expect(env.code).toBe(0);
    const vars = Object.fromEntries([...env.stdout.matchAll(/^export (\w+)='([^']*)'$/gm)].map((m) => [m[1], m[2]]));
    expect(vars['HTTPS_PROXY']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(vars['NODE_USE_ENV_PROXY']).toBe('1');
    const ca = readFileSync((await heimdall('ca', 'path')).stdout.trim(), 'utf8').trim();
    const bundle = readFileSync(vars['SSL_CERT_FILE'], 'utf8');
    expect(bundle).toContain(ca);
    // The bundle still holds the system roots, so tools whose variable replaces them keep working.
    expect(bundle.match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(10);
  });

  it('runs a command with the proxy environment and passes its exit code through', async () => {
    const out = await runToEnd(process.execPath, [HEIMDALL_BIN, 'exec', '--state-dir', stateDir, '--', 'sh', '-c', 'printf %s "$HTTPS_PROXY"; exit 7']);
    expect(out.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out.code).toBe(7);
  });

  it('lists no apps and no MCP servers on a fresh machine, as text and JSON', async () => {
    expect((await heimdall('apps')).stdout).toContain('No AI apps have made requests');
    expect(JSON.parse((await heimdall('apps', '--json')).stdout)).toEqual([]);
    expect((await heimdall('mcp', '--json')).code).toBe(0);
  });
});
