// The launcher's fast path (agent/src/cli/launch.ts): `heimdall exec` and `heimdall env` served
// without loading the whole CLI, against a real daemon, from source and from the bundle as it ships.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findExecutable, parseLaunch } from '../../agent/src/cli/launch.ts';
import { bundleAgent } from '../../scripts/bundle.ts';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

describe('parseLaunch', () => {
  it('reads the forms commander accepts for exec and env', () => {
    expect(parseLaunch('exec', ['--state-dir', '/s', '--', 'curl', '-s', '--socket', 'x'])).toEqual({ command: 'exec', location: { stateDir: '/s' }, program: 'curl', args: ['-s', '--socket', 'x'] });
    expect(parseLaunch('exec', ['--socket=/a', 'sh', '--', 'x'])).toEqual({ command: 'exec', location: { socket: '/a' }, program: 'sh', args: ['--', 'x'] });
    expect(parseLaunch('env', ['--shell', 'fish', '--state-dir=/s', '--state-dir', '/t'])).toEqual({ command: 'env', location: { stateDir: '/t' }, shell: 'fish' });
  });

  it('leaves help, unknown options, missing values and stray operands to the whole CLI', () => {
    expect(parseLaunch('exec', ['--help'])).toBeUndefined();
    expect(parseLaunch('exec', ['--'])).toBeUndefined();
    expect(parseLaunch('exec', ['--state-dir'])).toBeUndefined();
    expect(parseLaunch('exec', ['--state-dir', '--socket', 'x', 'true'])).toBeUndefined();
    expect(parseLaunch('env', ['--shell', 'sh', 'extra'])).toBeUndefined();
    expect(parseLaunch('env', ['-h'])).toBeUndefined();
    expect(parseLaunch('status', [])).toBeUndefined();
  });

  it('finds a command on PATH as execvp does', () => {
    expect(findExecutable('sh', `/nonexistent::${path.dirname(findExecutable('sh')!)}`)).toMatch(/\/sh$/);
    expect(findExecutable('no-such-command-heimdall')).toBeUndefined();
    expect(findExecutable('/etc/passwd')).toBeUndefined();
  });
});

describe('heimdall exec / env against a running daemon', () => {
  let dir: string;
  let stateDir: string;
  let config: string;
  let bundle: string;
  let daemon: RunningProcess | undefined;
  const start = async (port: number): Promise<void> => {
    daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(port)]);
    await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));
  };
  const stop = async (): Promise<void> => {
    daemon?.child.kill('SIGTERM');
    await daemon?.exited;
    daemon = undefined;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'heimdall-launcher-'));
    stateDir = path.join(dir, 'state');
    config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9', organization: 'Acme' }));
    bundle = await bundleAgent(path.join(dir, 'dist', 'heimdall.mjs'));
    await start(await freePort());
  }, 120_000);

  afterAll(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const entry of ['source', 'bundle'] as const) {
    it(`${entry}: exec becomes the command, with the caller's own environment plus the proxy's`, async () => {
      const heimdall = entry === 'source' ? HEIMDALL_BIN : bundle;
      // The shell prints its own pid and its parent's: with execve the command is the launcher's process.
      const child = startProcess(process.execPath, [heimdall, 'exec', '--state-dir', stateDir, '--', 'sh', '-c', 'echo "$$ $HTTPS_PROXY $MY_OWN"; exit 7'], { env: { ...process.env, MY_OWN: 'kept' } });
      const line = await child.waitForLine((l) => l.includes('kept'));
      const { code } = await child.exited;
      const [pid, proxy, own] = line.trim().split(' ');
      expect(Number(pid)).toBe(child.child.pid);
      expect(proxy).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(own).toBe('kept');
      expect(code).toBe(7);
      const missing = await runToEnd(process.execPath, [heimdall, 'exec', '--state-dir', stateDir, '--', 'no-such-command-heimdall']);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('command not found: no-such-command-heimdall');
    });
  }

  it('env answers what the daemon runs now: a restart on another port is seen by the next call', async () => {
    const before = await runToEnd(process.execPath, [bundle, 'env', '--shell', 'sh', '--state-dir', stateDir]);
    expect(before.code).toBe(0);
    await stop();
    const port = await freePort();
    await start(port);
    const after = await runToEnd(process.execPath, [bundle, 'env', '--shell', 'sh', '--state-dir', stateDir]);
    expect(after.stdout).toContain(`export HTTPS_PROXY='http://127.0.0.1:${port}'`);
    expect(after.stdout).not.toBe(before.stdout);
    const bad = await runToEnd(process.execPath, [bundle, 'env', '--shell', 'tcsh', '--state-dir', stateDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--shell: expected one of');
    const help = await runToEnd(process.execPath, [bundle, 'exec', '--help']);
    expect(help.stdout).toContain("Run a command with its AI traffic sent through Heimdall's proxy");
  }, 60_000);
});
