// The single-file executables as built by `npm run package` (installer/src/executables/): built once
// here for linux-x64 (run for real, alone in an empty folder, with no Node on PATH), linux-arm64 and
// win-x64 (their format checked; linux-arm64 run under qemu-user; win-x64 signed
// with a throwaway certificate), then linux-x64 built again to show the same input gives the same bytes.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExecutables, CHECKSUMS_FILE, NODE_VERSION, readBuildStamp, TARGETS, type BuildExecutablesResult } from '../../installer/src/index.ts';
import { osslsigncodeSignArgs, osslsigncodeVerifyArgs } from '../../installer/src/index.ts';
import { chatBody, demoAnswer, E2e, freePort, pollUntil, USER_EMAIL, ORGANIZATION, AgentProcess } from '../e2e/harness.ts';
import { REPO_ROOT } from '../helpers/process.ts';

const e2e = new E2e();
const CACHE_DIR = path.join(REPO_ROOT, '.cache/node-targets');
// No Node on this PATH: the executable must not need one.
const BARE_PATH = '/usr/bin:/bin';

let buildDir: string;
let first: BuildExecutablesResult;
/** The linux-x64 executable copied alone into an empty folder. */
let heimdall: string;

const sha256 = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const built = (target: string): string => path.join(buildDir, 'out', TARGETS[target as keyof typeof TARGETS].fileName);

function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  buildDir = e2e.dir('executables');
  first = await buildExecutables({
    targets: ['linux-x64', 'linux-arm64', 'win-x64'],
    outDir: path.join(buildDir, 'out'),
    workDir: path.join(buildDir, 'work'),
    cacheDir: CACHE_DIR,
    log: () => undefined,
  });
  const alone = e2e.dir('alone');
  heimdall = path.join(alone, 'heimdall');
  fs.copyFileSync(built('linux-x64'), heimdall);
  fs.chmodSync(heimdall, 0o755);
}, 600_000);
afterAll(() => e2e.cleanup());

function run(args: string[], options: { input?: string; cwd?: string; home?: string } = {}) {
  const home = options.home ?? path.dirname(heimdall);
  return e2e.run(heimdall, args, { env: { PATH: BARE_PATH, HOME: home }, cwd: options.cwd ?? path.dirname(heimdall), ...(options.input !== undefined ? { input: options.input } : {}) });
}

describe('single-file executables', () => {
  it('made the three targets asked for, stamped with package.json\'s version and the git commit, and listed them in SHA256SUMS', () => {
    expect(first.built.map((b) => b.target)).toEqual(['linux-x64', 'linux-arm64', 'win-x64']);
    expect(first.notBuilt).toEqual([]);
    expect(first.stamp).toEqual(readBuildStamp());
    const sums = fs.readFileSync(path.join(buildDir, 'out', CHECKSUMS_FILE), 'utf8');
    expect(sums).toBe(
      ['heimdall-linux-arm64', 'heimdall-linux-x64', 'heimdall-win-x64.exe'].map((f) => `${sha256(path.join(buildDir, 'out', f))}  ${f}\n`).join(''),
    );
    // sha256sum itself accepts the file.
    expect(execFileSync('sha256sum', ['-c', CHECKSUMS_FILE], { cwd: path.join(buildDir, 'out'), encoding: 'utf8' })).toContain('heimdall-linux-x64: OK');
  });

  it('runs alone from an empty folder with no Node installed: version, and the help of every command', async () => {
    const version = await run(['version', '--json']);
    expect(version.code, version.stderr).toBe(0);
    expect(JSON.parse(version.stdout)).toEqual({ version: first.stamp.version, commit: first.stamp.commit, node: `v${NODE_VERSION}`, platform: 'linux-x64' });
    // Nothing on stderr: no SEA warning, no SQLite experimental warning.
    expect(version.stderr).toBe('');
    for (const cmd of ['status', 'login', 'env', 'exec', 'apps', 'mcp', 'ca', 'run', 'version']) {
      const help = await run([cmd, '--help']);
      expect({ cmd, code: help.code, stderr: help.stderr }).toEqual({ cmd, code: 0, stderr: '' });
      expect(help.stdout).toMatch(/Example/);
    }
    expect(fs.readdirSync(path.dirname(heimdall))).toEqual(['heimdall']);
  }, 90_000);

  it('runs the daemon with --state-dir and serves a request through its proxy; every command answers it', async () => {
    const demo = await e2e.demo();
    const gateway = await e2e.gateway(demo);
    const key = (await gateway.json(['keys', 'create', '--user', USER_EMAIL])) as { key: string };
    const dir = e2e.dir('exe-agent');
    const home = path.join(dir, 'home');
    fs.mkdirSync(home);
    const config = path.join(dir, 'agent.json');
    // debug: the daemon says how it finds client sockets (the embedded sock_diag addon) at debug level.
    fs.writeFileSync(config, JSON.stringify({ gateway_url: gateway.url, organization: ORGANIZATION, log_level: 'debug' }));
    const stateDir = path.join(dir, 'state');
    const proxyPort = await freePort();
    const daemon = e2e.start(heimdall, ['run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(proxyPort)], { env: { PATH: BARE_PATH, HOME: home }, cwd: dir });
    const started = await daemon.waitForLine((l) => l.includes('"msg":"heimdall daemon started"'), 30_000);
    expect(started).toContain('"msg":"heimdall daemon started"');

    const login = await run(['login', '--virtual-key', '--state-dir', stateDir], { input: key.key, home });
    expect(login.code, login.stderr).toBe(0);
    const agent = new AgentProcess(e2e, stateDir, config, proxyPort, { home });
    await agent.waitForPolicy(1, 20_000);

    const curl = await run(['exec', '--state-dir', stateDir, '--', 'curl', '-sS', '--fail-with-body', 'https://api.openai.com/v1/chat/completions',
      '-H', 'Authorization: Bearer sk-app-own', '-H', 'content-type: application/json', '-d', chatBody('hello from the executable')], { home });
    expect(curl.code, curl.stderr).toBe(0);
    expect(JSON.parse(curl.stdout).choices[0].message.content).toBe(demoAnswer('demo-gpt', 'hello from the executable'));
    expect(demo.received.at(-1)?.headers['authorization']).toBe('Bearer demo-openai-key');
    // curl was identified through the sock_diag addon embedded in the executable, which was extracted
    // to a private temporary folder, loaded, and the folder removed.
    expect(daemon.lines().find((l) => l.includes('finding client sockets'))).toContain('finding client sockets with NETLINK_SOCK_DIAG');
    expect(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('heimdall-addon-'))).toEqual([]);

    const status = await run(['status', '--json', '--state-dir', stateDir], { home });
    expect(status.code, status.stdout).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ agent: { version: first.stamp.version } });
    for (const args of [['env'], ['apps'], ['mcp'], ['ca', 'fingerprint']]) {
      const r = await run([...args, '--state-dir', stateDir], { home });
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
    const { value: request } = await pollUntil('the request event for curl at the gateway', async () => {
      const events = await gateway.deviceEvents((await agent.statusNow()).device_id);
      return events.find((e) => e.source === 'agent' && e.type === 'request' && e.app === 'curl');
    }, { deadlineMs: 10_000, intervalMs: 200 });
    expect(request.attrs).toMatchObject({ host: 'api.openai.com', decision: 'allow', status_code: 200 });

    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  }, 120_000);

  it('builds linux-arm64 as an aarch64 ELF embedding the aarch64 sock_diag addon', async () => {
    const exe = built('linux-arm64');
    expect(execFileSync('file', ['-b', exe], { encoding: 'utf8' })).toContain(TARGETS['linux-arm64'].fileSignature);
    expect(execFileSync('readelf', ['-h', exe], { encoding: 'utf8' })).toMatch(/Machine:\s+AArch64/);
    const addon = path.join(buildDir, 'work', 'linux-arm64', 'sockdiag.node');
    expect(execFileSync('readelf', ['-h', addon], { encoding: 'utf8' })).toMatch(/Type:\s+DYN[\s\S]*Machine:\s+AArch64/);
    // The blob (and the addon in it) is inside the executable.
    expect(fs.readFileSync(exe).includes(fs.readFileSync(addon))).toBe(true);
    // Run for real under qemu-user (installed by .ci/run), with the aarch64 C library of Debian's cross toolchain.
    expect(hasCommand('qemu-aarch64'), 'qemu-aarch64 is missing: apt-get install qemu-user').toBe(true);
    const r = await e2e.run('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', exe, 'version', '--json'], { env: { PATH: BARE_PATH } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ platform: 'linux-arm64', node: `v${NODE_VERSION}` });
  }, 90_000);

  it('signs the Windows executable with osslsigncode and a throwaway certificate, and the signature verifies', () => {
    const dir = e2e.dir('sign');
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=Heimdall test signing',
      '-addext', 'extendedKeyUsage=codeSigning', '-addext', 'keyUsage=digitalSignature'], { stdio: 'ignore' });
    const exe = built('win-x64');
    expect(execFileSync('file', ['-b', exe], { encoding: 'utf8' })).toContain(TARGETS['win-x64'].fileSignature);
    // It embeds the win-x64 addon cross-compiled with mingw-w64 (a PE32+ DLL), as the build said.
    const addon = path.join(buildDir, 'work', 'win-x64', 'sockdiag.node');
    expect(execFileSync('file', ['-b', addon], { encoding: 'utf8' })).toMatch(/^PE32\+ executable \(DLL\) .*x86-64/);
    expect(fs.readFileSync(exe).includes(fs.readFileSync(addon))).toBe(true);
    expect(first.built.find((b) => b.target === 'win-x64')?.addon).toEqual({ embedded: true, from: 'built here with x86_64-w64-mingw32-gcc' });
    const signed = path.join(dir, 'heimdall-win-x64.exe');
    execFileSync('osslsigncode', osslsigncodeSignArgs({ certFile: cert, keyFile: key, time: 1_700_000_000 }, exe, signed), { stdio: 'ignore' });
    const verify = execFileSync('osslsigncode', osslsigncodeVerifyArgs(signed, cert), { encoding: 'utf8' });
    expect(verify).toContain('Signature verification: ok');
    expect(verify).toMatch(/Subject: .*CN=Heimdall test signing/);
    // A byte changed after signing breaks it.
    const tampered = path.join(dir, 'tampered.exe');
    const bytes = fs.readFileSync(signed);
    const middle = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    fs.writeFileSync(tampered, bytes);
    expect(() => execFileSync('osslsigncode', osslsigncodeVerifyArgs(tampered, cert), { stdio: 'pipe' })).toThrow();
  });

  it('gives the same bytes from the same input', async () => {
    const again = await buildExecutables({
      targets: ['linux-x64'], outDir: path.join(buildDir, 'again'), workDir: path.join(buildDir, 'work-again'), cacheDir: CACHE_DIR, log: () => undefined,
    });
    expect(again.built[0]!.sha256).toBe(first.built.find((b) => b.target === 'linux-x64')!.sha256);
  }, 300_000);
});
