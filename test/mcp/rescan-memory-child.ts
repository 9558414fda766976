// Child process for rescan-memory.test.ts: a real MCP governor over the home given as argv[2],
// rescanned argv[3] times; prints one JSON line: the resident set before the first scan, the peak
// during the first (the kernel's high-water mark, whatever the collector's timing), and the memory
// the program still holds (V8 heap plus external buffers) once collection has settled after each
// scan: what a leak would grow. The resident set after a scan is not that measure: the allocator
// keeps freed pages mapped, and on a loaded machine it drifted 15 MB over five scans of flat heap.
import { makeRig } from './helpers.ts';

const home = process.argv[2]!;
const rescans = Number(process.argv[3] ?? 5);
const rig = await makeRig({ home, platform: 'linux' });
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
// Buffers behind external memory are released by finalizers that run after the collection that
// found them dead, so one gc() can leave a scan's chunks counted; three rounds settle it.
const retained = async (): Promise<number> => {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
};
await retained();
const before = process.memoryUsage().rss;
let firstPeak = 0;
const samples: number[] = [];
let servers: string[] = [];
for (let i = 0; i < rescans; i++) {
  await rig.governor.rescan();
  if (i === 0) firstPeak = process.resourceUsage().maxRSS * 1024;
  servers = rig.governor.inventory().servers.map((s) => `${s.scope}:${s.name}`);
  samples.push(await retained());
}
await rig.governor.stop();
rig.store.close();
process.stdout.write(`${JSON.stringify({ before, firstPeak, samples, servers })}\n`);
