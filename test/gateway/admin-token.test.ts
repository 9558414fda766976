// Issue 15, attack 7, against a real `heimdall-gateway run` process and its CLI: the admin token is
// never printed, never taken from argv, kept in the database only as a hash, and can be rotated.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_BIN, startGatewayChild, type GatewayChild } from './process.ts';

const run = promisify(execFile);

/** Runs `heimdall-gateway ARGS`; never throws (exit code in `code`). */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [GATEWAY_BIN, ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

let gw: GatewayChild;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-token-'));
  gw = await startGatewayChild({ dataDir });
  await gw.waitForOutput('Admin token created');
});

afterAll(async () => {
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('attack 7: admin token hygiene', () => {
  it('prints no token at first start, says where it is, and keeps only its hash in the database', () => {
    const token = gw.adminToken();
    expect(token).toMatch(/^hat_/);
    expect(gw.output()).not.toContain(token);
    expect(gw.output()).toContain(`Admin token created in ${path.join(gw.dataDir, 'admin-token')} (0600`);
    expect(statSync(path.join(gw.dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    // The file is the one plaintext copy: no other file of the data dir (database, WAL) holds it.
    for (const name of readdirSync(gw.dataDir).filter((n) => n !== 'admin-token')) {
      expect(readFileSync(path.join(gw.dataDir, name)).includes(token), name).toBe(false);
    }
  });

  it('refuses a token on argv, naming the environment, file and data-dir ways', async () => {
    const r = await cli(['apps', 'list', '--url', gw.url, '--token', gw.adminToken()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--token is not accepted: a token on the command line is visible to every user in the process list');
    expect(r.stderr).toContain('HEIMDALL_ADMIN_TOKEN');
    expect(r.stderr).toContain('--token-file FILE');
    expect(r.stderr).toContain('--data-dir DIR');
    expect(r.stderr).not.toContain(gw.adminToken());
  });

  it('takes the token from the environment or a file', async () => {
    const fromEnv = await cli(['settings', 'get', 'fail_mode', '--url', gw.url], { HEIMDALL_ADMIN_TOKEN: gw.adminToken() });
    expect(fromEnv).toMatchObject({ code: 0, stdout: 'open\n' });
    const file = path.join(gw.dataDir, 'copied-token');
    writeFileSync(file, `${gw.adminToken()}\n`, { mode: 0o600 });
    const fromFile = await cli(['settings', 'get', 'fail_mode', '--url', gw.url, '--token-file', file]);
    expect(fromFile).toMatchObject({ code: 0, stdout: 'open\n' });
  });

  it('rotates: the new token is in the file (not printed), the old one stops working', async () => {
    const old = gw.adminToken();
    const r = await cli(['admin-token', 'rotate', '--data-dir', gw.dataDir]);
    expect(r.code).toBe(0);
    const fresh = gw.adminToken();
    expect(fresh).not.toBe(old);
    expect(r.stdout + r.stderr).not.toContain(fresh);
    expect(r.stdout).toContain('admin token rotated; the new one is in');
    expect(statSync(path.join(gw.dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    expect((await gw.admin('GET', 'settings', undefined, old)).status).toBe(401);
    expect((await gw.admin('GET', 'settings', undefined, fresh)).status).toBe(200);
    expect(gw.output()).not.toContain(fresh);
  });

  it('keeps a rotated token across a restart, and the database still holds no plaintext', async () => {
    const token = gw.adminToken();
    await gw.stop();
    gw = await startGatewayChild({ dataDir });
    expect(gw.output()).not.toContain('Admin token created');
    expect((await gw.admin('GET', 'settings', undefined, token)).status).toBe(200);
    for (const name of readdirSync(gw.dataDir).filter((n) => n !== 'admin-token')) {
      expect(readFileSync(path.join(gw.dataDir, name)).includes(token), name).toBe(false);
    }
  });
});
