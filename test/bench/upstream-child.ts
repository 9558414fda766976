// The benchmark's local upstream in its own process, as a real provider or gateway always is:
// an upstream inside the client's process would give the direct path no cross-process hop at all
// and charge that hop to the proxy. Started by startUpstreamProcess() in ./proxy.ts.
import net from 'node:net';
import { startUpstream } from './proxy.ts';

const dir = process.argv[2];
if (!dir || !process.send) {
  console.error('usage: fork(upstream-child.ts, [dir])');
  process.exit(2);
}
const upstream = await startUpstream(dir);
// A TCP echo beside it: one round trip to another process is the machine's floor for any proxy hop.
const echo = net.createServer({ noDelay: true }, (socket) => socket.on('data', (d) => socket.write(d)).on('error', () => socket.destroy()));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
process.send({ type: 'ready', port: upstream.port, caPath: upstream.caPath, caPem: upstream.caPem, echoPort: (echo.address() as net.AddressInfo).port });
process.on('message', (m: { type: string }) => {
  if (m.type === 'stats') void upstream.stats().then((stats) => process.send!({ type: 'stats', ...stats }));
});
process.on('disconnect', () => { upstream.close(); echo.close(); process.exit(0); });
