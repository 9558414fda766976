// Benchmark: leaf-certificate mint time, cold (a host never seen: CSR, sign, SecureContext) versus
// cached (a known host's SecureContext). The shared leaf key is generated before timing starts, as
// the daemon does at start-up. Run alone with `node test/bench/tls-mint.ts`; the bench runner calls
// benchLeafMint() and prints the ratios.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { CertificateManager, loadOrCreateLocalCa } from '../../agent/src/tls/index.ts';

export interface LeafMintBenchOptions {
  coldSamples?: number;
  cachedSamples?: number;
}

export async function benchLeafMint(options: LeafMintBenchOptions = {}): Promise<{ coldMs: number[]; cachedMs: number[] }> {
  const coldSamples = options.coldSamples ?? 50;
  const cachedSamples = options.cachedSamples ?? 5_000;
  const stateDir = await mkdtemp(path.join(tmpdir(), 'heimdall-bench-tls-'));
  try {
    const ca = await loadOrCreateLocalCa({ stateDir, permittedDomains: ['api.openai.com'], logger: silentLogger() });
    const manager = new CertificateManager({ signer: ca.signer, logger: silentLogger(), maxCachedHosts: coldSamples + 1 });
    // Generates the shared leaf key and warms the code paths; not measured.
    await manager.secureContextFor('api.openai.com');

    const coldMs: number[] = [];
    for (let i = 0; i < coldSamples; i++) {
      const host = `h${i}.api.openai.com`;
      const start = performance.now();
      await manager.secureContextFor(host);
      coldMs.push(performance.now() - start);
    }

    const cachedMs: number[] = [];
    for (let i = 0; i < cachedSamples; i++) {
      const start = performance.now();
      await manager.secureContextFor('api.openai.com');
      cachedMs.push(performance.now() - start);
    }
    return { coldMs, cachedMs };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { coldMs, cachedMs } = await benchLeafMint();
  const fmt = (v: number) => `${v.toFixed(3)} ms`;
  console.log(`leaf mint cold:   p50 ${fmt(percentile(coldMs, 50))}  p99 ${fmt(percentile(coldMs, 99))}  (n=${coldMs.length})`);
  console.log(`leaf mint cached: p50 ${fmt(percentile(cachedMs, 50))}  p99 ${fmt(percentile(cachedMs, 99))}  (n=${cachedMs.length})`);
  console.log(`cold / cached (p50): ${(percentile(coldMs, 50) / percentile(cachedMs, 50)).toFixed(0)}x`);
}
