// glibc's malloc calls in the native addon (agent/native/sockdiag/sockdiag.c): the daemon's malloc
// trim relies on malloc_trim giving memory freed in the middle of malloc's heap back to the kernel.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadMallocAddon } from '../../agent/src/lib/sockdiag-addon.ts';

const isGlibc = process.platform === 'linux' && Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);
const ADDON = fileURLToPath(new URL('../../agent/native/sockdiag/build/Release/sockdiag.node', import.meta.url));

describe.runIf(isGlibc)('malloc calls of the native addon (Linux, glibc)', () => {
  it('exposes mallocTrim and mallocInfo', () => {
    const addon = loadMallocAddon();
    expect(addon).toBeDefined();
    expect(typeof addon?.mallocTrim()).toBe('boolean');
    const info = addon?.mallocInfo?.();
    expect(info?.inUseBytes).toBeGreaterThan(0);
    expect(info?.arenaBytes).toBeGreaterThanOrEqual(info?.inUseBytes ?? Infinity);
  });

  it('gives memory freed between live allocations back to the kernel', () => {
    // In a child with --expose-gc: 20,000 freed 4 KB buffers, each between two that stay alive, so
    // free() alone cannot return them (only the free top of a heap goes back by itself).
    const script = `
      const addon = require(${JSON.stringify(ADDON)});
      const rssKiB = () => Number(/VmRSS:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]);
      const kept = [];
      let dropped = [];
      for (let i = 0; i < 20000; i++) { dropped.push(Buffer.allocUnsafeSlow(4000).fill(1)); kept.push(Buffer.allocUnsafeSlow(64).fill(1)); }
      dropped = null;
      gc(); gc();
      const freeBytes = addon.mallocInfo().freeBytes;
      const before = rssKiB();
      const released = addon.mallocTrim();
      console.log(JSON.stringify({ before, after: rssKiB(), released, freeBytes, kept: kept.length }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { before: number; after: number; released: boolean; freeBytes: number };
    // ~78 MiB freed: malloc holds it as free memory, and the trim takes RSS down by most of it.
    expect(out.freeBytes).toBeGreaterThan(60 * 1024 * 1024);
    expect(out.released).toBe(true);
    expect(out.before - out.after).toBeGreaterThan(40 * 1024);
  });
});
