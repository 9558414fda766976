// Child process for rescan-memory.test.ts: a real MCP governor over the home given as argv[2],
// rescanned argv[3] times; prints its RSS before the first scan and after each, one JSON line.
import { makeRig } from './helpers.ts';

const home = process.argv[2]!;
const rescans = Number(process.argv[3] ?? 5);
const rig = await makeRig({ home, platform: 'linux' });
const rss = (): number => process.memoryUsage().rss;
const samples = [rss()];
let servers: string[] = [];
for (let i = 0; i < rescans; i++) {
  await rig.governor.rescan();
  servers = rig.governor.inventory().servers.map((s) => `${s.scope}:${s.name}`);
  samples.push(rss());
}
await rig.governor.stop();
rig.store.close();
process.stdout.write(`${JSON.stringify({ samples, servers })}\n`);
