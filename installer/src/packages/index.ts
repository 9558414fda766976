// The package formats, listed once: each turns a single-file executable into what an MDM pushes.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { deb } from './deb.ts';
import { msi } from './msi.ts';
import { pkg } from './pkg.ts';
import { rpm } from './rpm.ts';
import type { PackageArch, PackageFormat, PackageOs } from './types.ts';

export type { PackageArch, PackageFormat, PackageInput, PackageOs } from './types.ts';
export { deb, rpm, pkg, msi };

export const PACKAGE_FORMATS: readonly PackageFormat[] = [deb, rpm, pkg, msi];

/** The executable a format packages: dist/executables/heimdall-<os>-<arch>[.exe] (the shared artifact names). */
export function executableFor(executablesDir: string, os: PackageOs, arch: PackageArch): string {
  return path.join(executablesDir, `heimdall-${os}-${arch}${os === 'win' ? '.exe' : ''}`);
}

export interface BuildPackagesOptions {
  executablesDir: string;
  outDir: string;
  workDir: string;
  version: string;
  sourceDateEpoch: number;
  report: (line: string) => void;
}

export interface BuildPackagesResult {
  built: string[];
  /** Packages not made, each with the reason (a missing executable names the file). */
  skipped: { package: string; reason: string }[];
}

/** Builds every format for every arch whose executable exists, then writes SHA256SUMS beside them. */
export async function buildPackages(o: BuildPackagesOptions): Promise<BuildPackagesResult> {
  const result: BuildPackagesResult = { built: [], skipped: [] };
  for (const format of PACKAGE_FORMATS) {
    for (const arch of format.arches) {
      const name = format.fileName(o.version, arch);
      const executable = executableFor(o.executablesDir, format.os, arch);
      if (!existsSync(executable)) {
        result.skipped.push({ package: name, reason: `${executable} does not exist (build it first: npm run package)` });
        o.report(`skipped ${name}: ${executable} does not exist`);
        continue;
      }
      const out = await format.build({ executable, arch, version: o.version, outDir: o.outDir, sourceDateEpoch: o.sourceDateEpoch, workDir: o.workDir });
      result.built.push(out);
      o.report(`built ${path.relative(process.cwd(), out)}`);
    }
  }
  const sums: string[] = [];
  for (const file of result.built) sums.push(`${createHash('sha256').update(await readFile(file)).digest('hex')}  ${path.basename(file)}`);
  if (sums.length > 0) await writeFile(path.join(o.outDir, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  return result;
}
