import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPackages, PACKAGE_FORMATS } from '../../installer/src/packages/index.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-build-packages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('building every package', () => {
  it('packages each executable that exists, says which packages it could not make and why, and writes their checksums', async () => {
    const executables = path.join(dir, 'executables');
    mkdirSync(executables);
    writeFileSync(path.join(executables, 'heimdall-linux-x64'), '#!/bin/sh\n');
    chmodSync(path.join(executables, 'heimdall-linux-x64'), 0o755);
    writeFileSync(path.join(executables, 'heimdall-win-x64.exe'), 'MZ');
    const lines: string[] = [];
    const out = path.join(dir, 'packages');
    const result = await buildPackages({ executablesDir: executables, outDir: out, workDir: path.join(dir, 'work'), version: '0.1.0', sourceDateEpoch: 1764806400, report: (l) => void lines.push(l) });

    expect(result.built.map((f) => path.basename(f))).toEqual(['heimdall_0.1.0_amd64.deb', 'heimdall-0.1.0-1.x86_64.rpm', 'heimdall-0.1.0-win-x64.msi']);
    expect(result.skipped.map((s) => s.package)).toEqual([
      'heimdall_0.1.0_arm64.deb', 'heimdall-0.1.0-1.aarch64.rpm', 'heimdall-0.1.0-darwin-arm64.pkg', 'heimdall-0.1.0-darwin-x64.pkg', 'heimdall-0.1.0-win-arm64.msi',
    ]);
    expect(result.skipped[2]!.reason).toBe(`${path.join(executables, 'heimdall-darwin-arm64')} does not exist (build it first: npm run package)`);
    expect(lines.filter((l) => l.startsWith('skipped '))).toHaveLength(5);
    const sums = readFileSync(path.join(out, 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(sums).toEqual(result.built.map((f) => `${createHash('sha256').update(readFileSync(f)).digest('hex')}  ${path.basename(f)}`));
    expect(PACKAGE_FORMATS.map((f) => f.name)).toEqual(['deb', 'rpm', 'pkg', 'msi']);
  }, 60_000);
});
