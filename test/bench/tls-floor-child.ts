// What Node's TLS costs per idle connection, with nothing of Heimdall in it: an HTTP server taking
// CONNECT, a server TLSSocket over the same socket with an RSA-2048 leaf (the daemon's kind), and an
// HTTP server inside answering the benchmark's request with the upstream's reply. The shipped
// module holds the same idle connections here as through the daemon, so the per-connection memory
// target is read against the floor Node itself sets on this machine. Started by
// startTlsFloorProcess() in ./shipped.ts.
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { makePki, REPLY } from './proxy.ts';

const dir = process.argv[2];
if (!dir || !process.send) {
  console.error('usage: fork(tls-floor-child.ts, [dir])');
  process.exit(2);
}
const pki = makePki(dir, 'rsa-2048', 'api.openai.com');
const context = tls.createSecureContext({ key: pki.key, cert: pki.cert });
const inner = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REPLY) });
    res.end(REPLY);
  });
});
const outer = http.createServer();
outer.on('connect', (_req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  socket.on('error', () => socket.destroy());
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
  if (head.length > 0) socket.unshift(head);
  const tlsSocket = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'] });
  tlsSocket.on('error', () => tlsSocket.destroy());
  tlsSocket.once('secure', () => inner.emit('connection', tlsSocket));
});
outer.listen(0, '127.0.0.1', () => process.send!({ port: (outer.address() as net.AddressInfo).port, caPem: pki.caPem }));
process.on('disconnect', () => process.exit(0));
