// The real `heimdall-gateway` executable: `run` as a child process, admin commands as separate
// processes finding it through the data dir, errors a person can act on, and a clean stop.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram, settingsPatch } from '../../gateway/src/cli/program.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/heimdall-gateway.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-cli-'));
const dataDir = path.join(dir, 'data');
let child: ChildProcess;
let stderr = '';

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args, '--data-dir', dataDir], { env: { ...process.env, HEIMDALL_GATEWAY_URL: '', HEIMDALL_ADMIN_TOKEN: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  child = spawn(process.execPath, [BIN, 'run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await vi.waitFor(() => expect(existsSync(path.join(dataDir, 'gateway-runtime.json'))).toBe(true), { timeout: 15_000, interval: 50 });
});

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

describe('heimdall-gateway CLI', () => {
  it('prints the admin token once at first start and keeps it 0600', async () => {
    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    // The runtime file can appear before the child's stderr reaches this process through the pipe.
    await vi.waitFor(() => expect(stderr).toContain(token), { timeout: 5000, interval: 20 });
  });

  it('creates a key, decides an app, lists it, through the admin API', async () => {
    const key = await cli('keys', 'create', '--user', 'ops@example.com');
    expect(key.code).toBe(0);
    expect(key.stdout.trim()).toMatch(/^sk-bf-/);
    expect((await cli('apps', 'deny', 'cursor')).stdout).toBe('app cursor: denied\n');
    const list = await cli('apps', 'list', '--json');
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id: 'cursor', status: 'denied' })]);
    expect((await cli('settings', 'set', 'routing.codex', 'passthrough')).code).toBe(0);
    expect((await cli('settings', 'get', 'routing.codex')).stdout).toBe('passthrough\n');
  });

  it('exits 1 with a message naming the field for a bad setting', async () => {
    const r = await cli('settings', 'set', 'fail_mode', 'sideways');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^heimdall-gateway: 400: fail_mode: /);
  });

  it('exports the CA as PEM with its SHA-256 fingerprint', async () => {
    expect((await cli('ca', 'export')).code).toBe(1);
    expect((await cli('ca', 'generate', '--domain', 'api.openai.com')).code).toBe(0);
    const r = await cli('ca', 'export');
    expect(r.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\nSHA-256 Fingerprint=([0-9A-F]{2}:){31}[0-9A-F]{2}\n$/);
    expect((await cli('ca', 'generate')).stderr).toMatch(/--force/);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('help', () => {
  it('shows an example on every command', () => {
    const leaves: Command[] = [];
    const walk = (c: Command) => (c.commands.length === 0 ? leaves.push(c) : c.commands.forEach(walk));
    let out = '';
    const program = buildProgram({ out: (t) => (out += t), err: (t) => (out += t) });
    walk(program);
    expect(leaves.length).toBeGreaterThan(15);
    for (const leaf of leaves) {
      out = '';
      leaf.outputHelp();
      expect(out, leaf.name()).toMatch(/Examples?:\n {2}\$ heimdall-gateway /);
    }
  });

  it('turns `settings set KEY VALUE` into the admin API body', () => {
    expect(settingsPatch('intercept', 'false')).toEqual({ intercept: false });
    expect(settingsPatch('full_resync_s', '600')).toEqual({ full_resync_s: 600 });
    expect(settingsPatch('routing.codex', 'default')).toEqual({ routing: { codex: null } });
  });
});
