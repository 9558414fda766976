// The load balancer of the replica tests: a TCP forwarder on loopback to whichever gateway replica
// `backend.port` names at the time a connection arrives (a TCP load balancer, as in docs/operations.md).
import net from 'node:net';

/** The load balancer: a TCP forwarder to whichever replica `backend` names. */
export function tcpBalancer(): { port: Promise<number>; backend: { port: number }; close(): Promise<void> } {
  const backend = { port: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(backend.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const port = new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  return {
    port,
    backend,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
