// Runs Heimdall's proxy in its own process for the benchmark (so its RSS is its own, as in the
// daemon). Started by test/bench/proxy.ts with fork(); reports its port and answers RSS queries.
import fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { Forwarder } from '../../agent/src/forward/index.ts';
import { createProxyServer } from '../../agent/src/intercept/index.ts';
import { setUpChild } from './child-setup.ts';

const { upstreamUrl: gatewayUrl, upstreamCaPath: gatewayCaPath, caPem, certificates, logger } = await setUpChild('proxy-child.ts');
const forwarder = new Forwarder({ gatewayUrl, gatewayCa: fs.readFileSync(gatewayCaPath, 'utf8'), deviceId: 'bench-device', logger });
const proxy = createProxyServer({
  forwarder,
  port: 0,
  certificates,
  getCredential: () => ({ kind: 'virtual_key', key: 'sk-bf-bench' }),
  logger,
});
const address = await proxy.listen();
// Time spent in garbage collection pauses so far: the bench reports it per request, since
// objects that outlive a request show up here first (and in the p99 latency).
let gcMicros = 0;
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMicros += e.duration * 1000; }).observe({ entryTypes: ['gc'] });
process.send!({ type: 'ready', port: address.port, caPem });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'rss') {
    globalThis.gc?.();
    const m = process.memoryUsage();
    process.send!({ type: 'rss', rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, active: proxy.activeConnections() });
  } else if (msg.type === 'cpu') {
    const used = process.cpuUsage();
    process.send!({ type: 'cpu', micros: used.user + used.system, gcMicros });
  } else if (msg.type === 'stop') {
    void proxy.close().then(() => process.exit(0));
  }
});
