// Reads an MSI's ProductCode, ProductVersion and UpgradeCode with msitools' `msiinfo`, when it is
// installed, so the .intunewin carries Intune's MSI facts and the detection rule can use the product
// code. Without msiinfo (macOS, Windows admin machines) the app is described without them.
import { spawnSync } from 'node:child_process';

export interface MsiFacts {
  productCode: string;
  productVersion: string;
  upgradeCode: string;
}

/** Parses `msiinfo export FILE Property` (tab-separated name and value, after three header lines). */
export function parseMsiProperties(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const tab = line.indexOf('\t');
    if (tab > 0) out[line.slice(0, tab)] = line.slice(tab + 1);
  }
  return out;
}

export function readMsiFacts(file: string): MsiFacts | undefined {
  const run = spawnSync('msiinfo', ['export', file, 'Property'], { encoding: 'utf8', timeout: 30_000 });
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  if (run.status !== 0) throw new Error(`--package ${file}: msiinfo cannot read it as an MSI (${(run.stderr || run.error?.message || '').trim()}); pass the .msi from dist/packages/`);
  const p = parseMsiProperties(run.stdout);
  const { ProductCode: productCode, ProductVersion: productVersion, UpgradeCode: upgradeCode } = p;
  if (!productCode || !productVersion || !upgradeCode) throw new Error(`--package ${file}: its Property table lacks ProductCode, ProductVersion or UpgradeCode; is it a Heimdall MSI?`);
  return { productCode, productVersion, upgradeCode };
}
