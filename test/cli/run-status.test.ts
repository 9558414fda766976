import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

const dirs: string[] = [];
const procs: RunningProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'heimdall-cli-'));
  dirs.push(d);
  return d;
}

function startDaemon(args: string[], spawnOpts: Parameters<typeof startProcess>[2] = {}): RunningProcess {
  const p = startProcess(process.execPath, [HEIMDALL_BIN, 'run', ...args], spawnOpts);
  procs.push(p);
  return p;
}

const started = (l: string): boolean => l.includes('"heimdall daemon started"');

describe('heimdall run / status / version', () => {
  it('starts with --state-dir, answers `heimdall status`, and stops cleanly on Ctrl-C', async () => {
    const stateDir = path.join(tempDir(), 'state');
    const config = path.join(tempDir(), 'config.json');
    writeFileSync(config, JSON.stringify({ gateway_url: 'https://gw.acme.example', organization: 'Acme' }));
    const daemon = startDaemon(['--state-dir', stateDir, '--config', config, '--proxy-port', String(await freePort())]);
    await daemon.waitForLine(started);

    const human = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--state-dir', stateDir]);
    // Running and configured, but nobody signed in: not governed, exit code 4 (see status-reasons.test.ts).
    expect(human.code).toBe(4);
    expect(human.stdout).toMatch(/^Heimdall \d+\.\d+\.\d+ is running \(pid \d+/);
    expect(human.stdout).toContain('Gateway: https://gw.acme.example for Acme');

    const json = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json'], { env: { ...process.env, HEIMDALL_STATE_DIR: stateDir } });
    const status = JSON.parse(json.stdout) as { agent: { pid: number }; config: { origins: Record<string, string> }; state_dir: string };
    expect(status.agent.pid).toBe(daemon.child.pid);
    expect(status.config.origins['gateway_url']).toBe(config);
    expect(status.state_dir).toBe(stateDir);

    daemon.child.kill('SIGINT');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(path.join(stateDir, 'heimdall.sock'))).toBe(false);
    const after = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--state-dir', stateDir]);
    expect(after.code).toBe(3);
    expect(after.stderr).toContain('the Heimdall daemon is not running or not reachable');
  });

  it('applies a managed file edit live, visible in status', async () => {
    const stateDir = path.join(tempDir(), 'state');
    const config = path.join(tempDir(), 'config.json');
    writeFileSync(config, JSON.stringify({ organization: 'Before' }));
    const daemon = startDaemon(['--state-dir', stateDir, '--config', config]);
    await daemon.waitForLine(started);
    writeFileSync(config, JSON.stringify({ organization: 'After', proxy_port: '80a' }));
    await daemon.waitForLine((l) => l.includes('configuration changed; applying it'));
    const json = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json', '--state-dir', stateDir]);
    const status = JSON.parse(json.stdout) as { config: { values: { organization: string }; problems: { message: string }[] } };
    expect(status.config.values.organization).toBe('After');
    expect(status.config.problems.map((p) => p.message)).toContain(`config key "proxy_port" in ${config}: expected an integer 1-65535, got "80a"; ignoring it`);
    const human = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--state-dir', stateDir]);
    expect(human.stdout).toContain('Configuration: 1 error(s), 0 warning(s)');
  });

  it('refuses to start a second daemon on the same socket, and replaces a stale socket file', async () => {
    const stateDir = path.join(tempDir(), 'state');
    const empty = path.join(tempDir(), 'empty.json');
    writeFileSync(empty, '{}');
    const first = startDaemon(['--state-dir', stateDir, '--config', empty]);
    await first.waitForLine(started);
    const second = startDaemon(['--state-dir', stateDir, '--config', empty]);
    expect((await second.exited).code).toBe(1);
    expect(second.stderr()).toContain(`another Heimdall daemon is already answering on ${path.join(stateDir, 'heimdall.sock')}`);

    first.child.kill('SIGKILL'); // leaves the socket file behind
    await first.exited;
    expect(existsSync(path.join(stateDir, 'heimdall.sock'))).toBe(true);
    const third = startDaemon(['--state-dir', stateDir, '--config', empty]);
    await third.waitForLine(started);
    // It answers: not governed for want of a gateway_url (8), not "not running" (3).
    expect((await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--state-dir', stateDir])).code).toBe(8);
  });

  it.runIf(process.getuid?.() === 0)('runs unprivileged as another user with --state-dir', async () => {
    const base = tempDir();
    chmodSync(base, 0o755);
    chownSync(base, 65534, 65534);
    const stateDir = path.join(base, 'state');
    const nobody = { uid: 65534, gid: 65534 };
    const empty = path.join(base, 'empty.json');
    writeFileSync(empty, '{}');
    const daemon = startDaemon(['--state-dir', stateDir, '--config', empty], { ...nobody, cwd: base });
    await daemon.waitForLine(started);
    const status = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json', '--state-dir', stateDir], { ...nobody, cwd: base });
    expect(JSON.parse(status.stdout).agent.pid).toBe(daemon.child.pid);
    daemon.child.kill('SIGINT');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
  });

  it('prints its version and help with an example on every command', async () => {
    const version = await runToEnd(process.execPath, [HEIMDALL_BIN, 'version', '--json']);
    expect(JSON.parse(version.stdout)).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.version });
    for (const cmd of ['status', 'login', 'logout', 'env', 'exec', 'apps', 'mcp', 'ca', 'run', 'version']) {
      const help = await runToEnd(process.execPath, [HEIMDALL_BIN, cmd, '--help']);
      expect({ cmd, code: help.code }).toEqual({ cmd, code: 0 });
      expect(help.stdout).toMatch(/Example/);
    }
    // Eleven Node start-ups in a row: a busy 2-core machine needs more than the default 30 s.
  }, 90_000);
});
