// Child process for rescan-memory.test.ts: a real MCP governor over the home given as argv[2],
// rescanned argv[3] times; prints one JSON line: the resident set before the first scan, the peak
// during the first (the kernel's high-water mark, whatever the collector's timing), and what stays
// resident after a full collection following each scan (what a leak would grow).
import { makeRig } from './helpers.ts';

const home = process.argv[2]!;
const rescans = Number(process.argv[3] ?? 5);
const rig = await makeRig({ home, platform: 'linux' });
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const retained = (): number => {
  gc();
  return process.memoryUsage().rss;
};
const before = retained();
let firstPeak = 0;
const samples: number[] = [];
let servers: string[] = [];
for (let i = 0; i < rescans; i++) {
  await rig.governor.rescan();
  if (i === 0) firstPeak = process.resourceUsage().maxRSS * 1024;
  servers = rig.governor.inventory().servers.map((s) => `${s.scope}:${s.name}`);
  samples.push(retained());
}
await rig.governor.stop();
rig.store.close();
process.stdout.write(`${JSON.stringify({ before, firstPeak, samples, servers })}\n`);
