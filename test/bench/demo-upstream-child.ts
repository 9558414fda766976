// The DEMO upstream in its own process for the gateway inference bench: in the client's process it
// would compete with the load it is measured against. Prints its URL as the first line.
import { startDemoUpstream } from '../../gateway/src/demo-upstream/index.ts';

const key = process.argv[2];
if (!key) {
  console.error('usage: node demo-upstream-child.ts PROVIDER_KEY');
  process.exit(2);
}
const demo = await startDemoUpstream({ keys: { openai: key }, chunkDelayMs: 0 });
console.log(demo.url);
process.stdin.resume();
process.stdin.on('end', () => void demo.close().then(() => process.exit(0)));
