import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msi, MSI_UPGRADE_CODE } from '../../installer/src/packages/msi.ts';

let dir: string;
const built: Record<string, string> = {};

/** A table exported by msiinfo as rows of column name -> value (msiinfo's own reader, not ours). */
function table(file: string, name: string): Record<string, string>[] {
  const lines = execFileSync('msiinfo', ['export', file, name], { encoding: 'utf8' }).split(/\r?\n/).filter(Boolean);
  const columns = lines[0]!.split('\t');
  return lines.slice(3).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [columns[i]!, v])));
}
const row = (rows: Record<string, string>[], column: string, value: string): Record<string, string> | undefined => rows.find((r) => r[column] === value);

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-msi-'));
  const exe = path.join(dir, 'heimdall.exe');
  writeFileSync(exe, 'MZ stand-in for the single-file executable');
  for (const arch of msi.arches) built[arch] = await msi.build({ executable: exe, arch, version: '0.1.0', outDir: path.join(dir, 'out'), sourceDateEpoch: 1764806400, workDir: path.join(dir, 'work') });
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the Windows .msi', () => {
  it('is named per the contract and declares its platform in the summary', () => {
    expect(path.basename(built['x64']!)).toBe('heimdall-0.1.0-win-x64.msi');
    expect(path.basename(built['arm64']!)).toBe('heimdall-0.1.0-win-arm64.msi');
    expect(execFileSync('msiinfo', ['suminfo', built['x64']!], { encoding: 'utf8' })).toMatch(/^Template: x64;1033$/m);
    expect(execFileSync('msiinfo', ['suminfo', built['arm64']!], { encoding: 'utf8' })).toMatch(/^Template: Arm64;1033$/m);
  });

  it('installs heimdall.exe under Program Files\\Heimdall as a LocalSystem service that starts automatically', () => {
    const file = built['x64']!;
    expect(row(table(file, 'File'), 'File', 'HeimdallExe')).toMatchObject({ FileName: 'heimdall.exe', Component_: 'Executable' });
    expect(row(table(file, 'Directory'), 'Directory', 'INSTALLDIR')).toMatchObject({ Directory_Parent: 'ProgramFiles64Folder', DefaultDir: 'Heimdall' });
    // ServiceType 16 own process, StartType 2 automatic, ErrorControl 1 normal.
    expect(row(table(file, 'ServiceInstall'), 'Name', 'Heimdall')).toMatchObject({ ServiceType: '16', StartType: '2', ErrorControl: '1', StartName: 'LocalSystem', Arguments: 'run' });
    // Event 163 = start on install (1) + stop on install (2) + stop on uninstall (32) + delete on uninstall (128).
    expect(row(table(file, 'ServiceControl'), 'Name', 'Heimdall')).toMatchObject({ Event: '163', Wait: '1' });
  });

  it('restarts the service after failures (MsiServiceConfigFailureActions, applied by MsiConfigureServices)', () => {
    const file = built['arm64']!;
    expect(row(table(file, 'MsiServiceConfigFailureActions'), 'Name', 'Heimdall')).toMatchObject({ Event: '1', ResetPeriod: '86400', Actions: '1[~]1[~]1', DelayActions: '5000[~]5000[~]30000', Component_: 'Executable' });
    const sequence = table(file, 'InstallExecuteSequence');
    const at = (action: string): number => Number(row(sequence, 'Action', action)?.['Sequence']);
    expect(at('MsiConfigureServices')).toBeGreaterThan(at('InstallServices'));
    expect(at('MsiConfigureServices')).toBeLessThan(at('StartServices'));
  });

  it('keeps the UpgradeCode and removes the older version first (major upgrade), refusing downgrades', () => {
    const file = built['x64']!;
    const props = table(file, 'Property');
    expect(row(props, 'Property', 'UpgradeCode')?.['Value']).toBe(MSI_UPGRADE_CODE);
    expect(row(props, 'Property', 'ProductVersion')?.['Value']).toBe('0.1.0');
    const upgrade = table(file, 'Upgrade');
    expect(row(upgrade, 'ActionProperty', 'WIX_UPGRADE_DETECTED')).toMatchObject({ UpgradeCode: MSI_UPGRADE_CODE, VersionMax: '0.1.0' });
    expect(row(upgrade, 'ActionProperty', 'WIX_DOWNGRADE_DETECTED')).toMatchObject({ UpgradeCode: MSI_UPGRADE_CODE, VersionMin: '0.1.0' });
    const sequence = table(file, 'InstallExecuteSequence');
    expect(Number(row(sequence, 'Action', 'RemoveExistingProducts')?.['Sequence'])).toBe(Number(row(sequence, 'Action', 'InstallValidate')?.['Sequence']) + 1);
    // Another version has another ProductCode; the same version the same one.
    const other = execFileSync('msiinfo', ['export', built['arm64']!, 'Property'], { encoding: 'utf8' });
    expect(other).not.toContain(row(props, 'Property', 'ProductCode')!['Value']);
  });

  it('writes GATEWAY_URL, ORGANIZATION and SUPPORT_URL to the policy key only when given, and passes them to the elevated install', () => {
    const file = built['x64']!;
    const registry = table(file, 'Registry');
    const components = table(file, 'Component');
    for (const [property, value] of [['GATEWAY_URL', 'gateway_url'], ['ORGANIZATION', 'organization'], ['SUPPORT_URL', 'support_url']] as const) {
      const reg = row(registry, 'Name', value);
      expect(reg).toMatchObject({ Root: '2', Key: 'SOFTWARE\\Policies\\Heimdall', Value: `[${property}]` });
      expect(row(components, 'Component', reg!['Component_']!)?.['Condition']).toBe(property);
    }
    expect(row(table(file, 'Property'), 'Property', 'SecureCustomProperties')?.['Value']?.split(';')).toEqual(expect.arrayContaining(['GATEWAY_URL', 'ORGANIZATION', 'SUPPORT_URL']));
  });

  it('starts the helper from the Run key and runs heimdall install / uninstall as deferred SYSTEM actions', () => {
    const file = built['x64']!;
    expect(row(table(file, 'Registry'), 'Name', 'HeimdallHelper')).toMatchObject({ Root: '2', Key: 'SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run', Value: '"[INSTALLDIR]heimdall.exe" login --if-needed' });
    const actions = table(file, 'CustomAction');
    // 3090 = exe from an installed file (18) + deferred (1024) + no impersonation (2048); +64 ignores the exit code.
    expect(row(actions, 'Action', 'HeimdallInstall')).toMatchObject({ Type: '3090', Source: 'HeimdallExe', Target: 'install' });
    expect(row(actions, 'Action', 'HeimdallUninstall')).toMatchObject({ Type: '3154', Source: 'HeimdallExe', Target: 'uninstall --purge' });
    const sequence = table(file, 'InstallExecuteSequence');
    const seq = (action: string): number => Number(row(sequence, 'Action', action)?.['Sequence']);
    expect(row(sequence, 'Action', 'HeimdallInstall')?.['Condition']).toBe('NOT REMOVE');
    expect(row(sequence, 'Action', 'HeimdallUninstall')?.['Condition']).toBe('REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE');
    // Deferred actions run inside InstallInitialize..InstallFinalize; install makes the CA before the service starts.
    for (const a of ['HeimdallInstall', 'HeimdallUninstall']) {
      expect(seq(a)).toBeGreaterThan(seq('InstallInitialize'));
      expect(seq(a)).toBeLessThan(seq('InstallFinalize'));
    }
    expect(seq('HeimdallInstall')).toBeLessThan(seq('StartServices'));
    // Uninstall (with --purge) once the service has stopped, while heimdall.exe is still installed.
    expect(seq('HeimdallUninstall')).toBeGreaterThan(seq('StopServices'));
    expect(seq('HeimdallUninstall')).toBeLessThan(seq('RemoveFiles'));
  });
});
