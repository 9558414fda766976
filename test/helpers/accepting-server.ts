// A loopback TCP server whose accepted sockets a test takes one by one, to look at a real
// connection from the server's side (as the proxy does when it identifies a client).
import net from 'node:net';

export interface AcceptingServer {
  port: number;
  /** The next accepted connection, in arrival order. */
  nextConnection(): Promise<net.Socket>;
  close(): Promise<void>;
}

export async function startAcceptingServer(host = '127.0.0.1'): Promise<AcceptingServer> {
  const accepted: net.Socket[] = [];
  const waiting: ((s: net.Socket) => void)[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    const w = waiting.shift();
    if (w) w(s);
    else accepted.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    nextConnection: () => {
      const s = accepted.shift();
      return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
    },
    close: async () => {
      for (const s of accepted.splice(0)) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
