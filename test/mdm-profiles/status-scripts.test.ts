// The MDM reporting scripts read `heimdall status --json` and its exit code. The bash ones run here:
// against a real daemon (through a `heimdall` on PATH that runs bin/heimdall.js), and against
// recorded answers of the status contract. pwsh is not installable here (no Debian package), so the
// PowerShell ones are checked as text.
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bashStatusReport, generateFiles, kandjiAuditScript, powershellStatusReport, STATUS_REASONS } from '../../mdm-profiles/src/index.ts';
import { freePort, HEIMDALL_BIN, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';
import { baseOptions, cleanup, tempDir } from './helpers.ts';

const dirs: string[] = [];
const procs: RunningProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) p.child.kill('SIGKILL');
  cleanup(dirs);
});

function script(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o755 });
  return file;
}

/** A folder holding an executable `heimdall` with the given shell body. */
function fakeHeimdall(body: string): string {
  const bin = tempDir(dirs, 'heimdall-shim-');
  chmodSync(script(bin, 'heimdall', `#!/bin/sh\n${body}\n`), 0o755);
  return bin;
}

const run = (file: string, binDir: string, env: Record<string, string> = {}) => runToEnd('bash', [file], { env: { ...process.env, ...env, PATH: `${binDir}:/usr/bin:/bin` } });

describe('Jamf extension attribute against a real daemon', () => {
  it('reports the running daemon\'s version and governed state from its status JSON, then daemon_not_running once it stops', async () => {
    const dir = tempDir(dirs);
    const stateDir = path.join(dir, 'state');
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ gateway_url: 'https://gw.acme.example', organization: 'Acme', proxy_port: await freePort() }));
    const daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config]);
    procs.push(daemon);
    await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));

    const bin = fakeHeimdall(`exec "${process.execPath}" "${HEIMDALL_BIN}" "$@"`);
    const ea = script(dir, 'ea.sh', bashStatusReport('jamf-extension-attribute', 'test'));
    const direct = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json'], { env: { ...process.env, HEIMDALL_STATE_DIR: stateDir } });
    const status = JSON.parse(direct.stdout) as { governed: boolean; reason?: string; agent: { version: string }; signed_in_users?: string[] };
    expect(status.agent.version).toMatch(/^\d+\.\d+\.\d+/);

    const reported = await run(ea, bin, { HEIMDALL_STATE_DIR: stateDir });
    expect(reported.code).toBe(0);
    const head = status.governed ? 'governed' : `not governed: ${status.reason ?? 'unknown'}`;
    expect(reported.stdout).toBe(`<result>${head}; version=${status.agent.version}; users=${(status.signed_in_users ?? []).join(',')}</result>\n`);

    daemon.child.kill('SIGINT');
    await daemon.exited;
    const stopped = await run(ea, bin, { HEIMDALL_STATE_DIR: stateDir });
    expect(stopped.stdout).toBe('<result>not governed: daemon_not_running; version=unknown; users=</result>\n');
  }, 90_000); // a daemon start on a loaded two-core machine

  it('says "not installed" when there is no heimdall', async () => {
    const dir = tempDir(dirs);
    const ea = script(dir, 'ea.sh', bashStatusReport('jamf-extension-attribute', 'test'));
    expect((await run(ea, tempDir(dirs))).stdout).toBe('<result>not installed</result>\n');
  });
});

describe('status scripts against recorded answers of the status contract', () => {
  it('prints the contract\'s reason, version and signed-in users', async () => {
    const dir = tempDir(dirs);
    const plain = script(dir, 'sensor.sh', bashStatusReport('plain', 'test'));
    const notSignedIn = fakeHeimdall(`echo '{"governed":false,"reason":"not_signed_in","reasons":["not_signed_in","policy_stale"],"agent":{"version":"0.1.0"},"signed_in_users":[]}'; exit 4`);
    expect((await run(plain, notSignedIn)).stdout).toBe('not governed: not_signed_in; version=0.1.0; users=\n');
    const governed = fakeHeimdall(`echo '{"governed":true,"reason":"governed","reasons":[],"agent":{"version":"0.2.0"},"signed_in_users":["alice","bob"]}'; exit 0`);
    expect((await run(plain, governed)).stdout).toBe('governed; version=0.2.0; users=alice,bob\n');
  });

  it('falls back to the exit code\'s reason when the output is not JSON, for every code in the contract', async () => {
    const dir = tempDir(dirs);
    const plain = script(dir, 'sensor.sh', bashStatusReport('plain', 'test'));
    for (const row of STATUS_REASONS) {
      const out = (await run(plain, fakeHeimdall(`echo 'garbled'; exit ${row.exitCode}`))).stdout;
      expect(out).toBe(row.exitCode === 0 ? 'governed; version=unknown; users=\n' : `not governed: ${row.reason}; version=unknown; users=\n`);
    }
    expect((await run(plain, fakeHeimdall('exit 1'))).stdout).toBe('not governed: error; version=unknown; users=\n');
  });

  it('Kandji\'s audit asks for a reinstall only when Heimdall is missing or its daemon is not running', async () => {
    const dir = tempDir(dirs);
    const audit = script(dir, 'audit.sh', kandjiAuditScript());
    for (const row of STATUS_REASONS) {
      const result = await run(audit, fakeHeimdall(`exit ${row.exitCode}`));
      expect([result.code, result.stdout.trim()], row.reason).toEqual([row.reason === 'daemon_not_running' ? 1 : 0, `heimdall status: ${row.reason}`]);
    }
    expect((await run(audit, tempDir(dirs))).code).toBe(1);
  });
});

describe('PowerShell scripts (checked as text: no pwsh on this system)', () => {
  const text = powershellStatusReport('test');
  const allScripts = generateFiles(baseOptions()).filter((f) => f.path.endsWith('.ps1'));

  it('maps every exit code of the contract and reads the contract\'s fields', () => {
    for (const row of STATUS_REASONS) expect(text).toContain(`  ${row.exitCode} = '${row.reason}'`);
    for (const field of ['$Status.reason', '$Status.governed', '$Status.agent.version', '$Status.signed_in_users', 'ConvertFrom-Json', '$LASTEXITCODE']) expect(text).toContain(field);
    expect(text).toContain("'C:\\Program Files\\Heimdall\\heimdall.exe'");
  });

  it('every generated .ps1 has balanced braces and parentheses outside strings and comments, and no bash syntax', () => {
    expect(allScripts.map((f) => f.path).sort()).toEqual(['intune/heimdall-status.ps1', 'jumpcloud/windows-install.ps1', 'workspace-one/sensor-heimdall-status.ps1']);
    for (const f of allScripts) checkPowerShell(String(f.content));
  });
});

function checkPowerShell(text: string): void {
  const code = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/'[^']*'/g, "''")
    .replace(/"[^"]*"/g, '""');
  const depth = { '{': 0, '(': 0 };
  for (const c of code) {
    if (c === '{' || c === '(') depth[c]++;
    if (c === '}') expect(--depth['{']).toBeGreaterThanOrEqual(0);
    if (c === ')') expect(--depth['(']).toBeGreaterThanOrEqual(0);
  }
  expect(depth).toEqual({ '{': 0, '(': 0 });
  expect(code).not.toMatch(/\bfi\b|\bthen\b|\besac\b|\[\[/);
}
