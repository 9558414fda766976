// Runs Heimdall's proxy in its own process for the benchmark (so its RSS is its own, as in the
// daemon). Started by test/bench/proxy.ts with fork(); reports its port and answers RSS queries.
import fs from 'node:fs';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { CertificateManager, loadOrCreateLocalCa } from '../../agent/src/tls/index.ts';
import { createProxyServer } from '../../agent/src/intercept/index.ts';
import { interceptedHosts, permittedDomains } from '../../agent/src/forward/index.ts';

const [stateDir, gatewayUrl, gatewayCaPath] = process.argv.slice(2);
if (!stateDir || !gatewayUrl || !gatewayCaPath || !process.send) {
  console.error('usage: fork(proxy-child.ts, [stateDir, gatewayUrl, gatewayCaPath])');
  process.exit(2);
}
const logger = silentLogger();
const ca = await loadOrCreateLocalCa({ stateDir, permittedDomains: permittedDomains(), logger });
const certificates = new CertificateManager({ signer: ca.signer, logger });
await certificates.prewarm(interceptedHosts());
const proxy = createProxyServer({
  gatewayUrl,
  gatewayCa: fs.readFileSync(gatewayCaPath, 'utf8'),
  deviceId: 'bench-device',
  port: 0,
  certificates,
  getVirtualKey: () => 'sk-bf-bench',
  logger,
});
const address = await proxy.listen();
process.send({ type: 'ready', port: address.port, caPem: ca.certPem });
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'rss') {
    globalThis.gc?.();
    process.send!({ type: 'rss', rss: process.memoryUsage().rss, active: proxy.activeConnections() });
  } else if (msg.type === 'cpu') {
    const used = process.cpuUsage();
    process.send!({ type: 'cpu', micros: used.user + used.system });
  } else if (msg.type === 'stop') {
    void proxy.close().then(() => process.exit(0));
  }
});
