// The smallest TLS-terminating proxy Node can be, as a calibration for test/bench/proxy.ts: it
// answers CONNECT, terminates TLS with a Heimdall leaf, and pipes the bytes to the upstream over TLS
// without reading them. No HTTP parsing, no policy, no rewriting. What it costs on top of the
// direct path is what any proxy in Node pays on this machine for the extra process and TLS hop.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { setUpChild } from './child-setup.ts';

const { upstreamUrl, upstreamCaPath, caPem, certificates } = await setUpChild('relay-child.ts');
const upstreamTrust = tls.createSecureContext({ ca: fs.readFileSync(upstreamCaPath, 'utf8') });
const upstreamPort = Number(new URL(upstreamUrl).port);

const server = net.createServer({ noDelay: true }, (client) => {
  client.on('error', () => client.destroy());
  client.once('data', () => {
    // The benchmark's client sends one CONNECT and waits for the answer before its ClientHello.
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    const inner = new tls.TLSSocket(client, { isServer: true, secureContext: certificates.cachedSecureContextFor('api.openai.com'), ALPNProtocols: ['http/1.1'] });
    const upstream = tls.connect({ host: '127.0.0.1', port: upstreamPort, servername: 'localhost', secureContext: upstreamTrust, ALPNProtocols: ['http/1.1'] });
    upstream.setNoDelay(true);
    inner.pipe(upstream).pipe(inner);
    inner.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
    upstream.on('error', () => inner.destroy()).on('close', () => inner.destroy());
  });
});
server.listen(0, '127.0.0.1', () => process.send!({ type: 'ready', port: (server.address() as net.AddressInfo).port, caPem }));
process.on('message', (msg: { type: string }) => {
  if (msg.type === 'cpu') {
    const used = process.cpuUsage();
    process.send!({ type: 'cpu', micros: used.user + used.system });
  } else if (msg.type === 'stop') {
    server.close();
    process.exit(0);
  }
});
