// The sock_diag addon (agent/native/sockdiag, built by `npm ci`) asks the kernel for one socket by
// its 4-tuple. Real clients (curl, node) connect to a real server; the addon's answer must be the
// one /proc/net/tcp gives for the same connection, and the resolver must still work without it.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import {
  clientSocketTuples,
  findClientSocket,
  LinuxProcessResolver,
  loadSockDiag,
  parseProcNetTcp,
  type SockDiag,
} from '../../agent/src/identify/linux.ts';
import type { PeerQuery } from '../../agent/src/identify/index.ts';
import { startAcceptingServer, type AcceptingServer } from '../helpers/accepting-server.ts';

const isLinux = process.platform === 'linux';
// The addon is optional: without a C compiler `npm ci` only warns. With one, it must have been built.
const canCompile = isLinux && ['cc', 'make', 'python3'].every((tool) => {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

let server: AcceptingServer;
let port: number;
const children: ChildProcess[] = [];
const nextConnection = (): Promise<net.Socket> => server.nextConnection();

function queryFor(socket: net.Socket): PeerQuery {
  return { clientPort: socket.remotePort!, clientAddress: socket.remoteAddress!, proxyPort: socket.localPort!, proxyAddress: socket.localAddress!, family: 'IPv4' };
}

function startCurl(): ChildProcess {
  const child = spawn('curl', ['-s', '-m', '20', `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
  children.push(child);
  return child;
}

beforeAll(async () => {
  server = await startAcceptingServer();
  port = server.port;
});

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

afterAll(() => server.close());

describe('the 4-tuples a client socket can have', () => {
  it('tries the IPv4 socket first and the dual-stack spelling second, for plain and mapped addresses', () => {
    const plain = clientSocketTuples({ clientAddress: '127.0.0.1', clientPort: 5000, proxyPort: 8080, proxyAddress: '127.0.0.1' });
    const mapped = clientSocketTuples({ clientAddress: '::ffff:127.0.0.1', clientPort: 5000, proxyPort: 8080, proxyAddress: '::ffff:127.0.0.1', family: 'IPv6' });
    const expected = [
      { family: 4, localAddress: '127.0.0.1', localPort: 5000, remoteAddress: '127.0.0.1', remotePort: 8080 },
      { family: 6, localAddress: '::ffff:127.0.0.1', localPort: 5000, remoteAddress: '::ffff:127.0.0.1', remotePort: 8080 },
    ];
    expect(plain).toEqual(expected);
    expect(mapped).toEqual(expected);
  });

  it('uses IPv6 for IPv6 clients, assumes loopback when the proxy address is not given, and gives up without a client address', () => {
    expect(clientSocketTuples({ clientAddress: '::1', clientPort: 5000, proxyPort: 8080 })).toEqual([
      { family: 6, localAddress: '::1', localPort: 5000, remoteAddress: '::1', remotePort: 8080 },
    ]);
    expect(clientSocketTuples({ clientAddress: '127.0.0.1', clientPort: 5000, proxyPort: 8080 })[0]?.remoteAddress).toBe('127.0.0.1');
    expect(clientSocketTuples({ clientPort: 5000, proxyPort: 8080 })).toEqual([]);
  });
});

describe.runIf(isLinux)('sock_diag lookup of real connections', () => {
  let addon: SockDiag | undefined;
  beforeAll(() => {
    addon = loadSockDiag();
  });

  it.runIf(canCompile)('was built by npm ci (a C compiler is present)', () => {
    expect(addon, 'agent/native/sockdiag/build/Release/sockdiag.node is missing: run npm ci').toBeDefined();
  });

  it('finds the uid and inode of curl\'s socket that /proc/net/tcp shows for the same connection', async ({ skip }) => {
    if (!addon) return skip('sock_diag addon not built');
    startCurl();
    const socket = await nextConnection();
    const q = queryFor(socket);
    const fromProc = findClientSocket(parseProcNetTcp(readFileSync('/proc/net/tcp', 'utf8')), q);
    expect(fromProc).toBeDefined();
    const fromKernel = addon.lookupTcp(4, socket.remoteAddress!, socket.remotePort!, socket.localAddress!, socket.localPort!);
    expect(fromKernel).toEqual({ uid: fromProc!.uid, inode: fromProc!.inode });
    // Local and remote swapped is the proxy's own end: a different socket.
    const proxyEnd = addon.lookupTcp(4, socket.localAddress!, socket.localPort!, socket.remoteAddress!, socket.remotePort!);
    expect(proxyEnd?.inode).not.toBe(fromProc!.inode);
    socket.destroy();
  });

  it('finds a node client connected over IPv6 loopback', async ({ skip }) => {
    if (!addon) return skip('sock_diag addon not built');
    const v6 = net.createServer();
    const ok = await new Promise<boolean>((resolve) => v6.once('error', () => resolve(false)).listen(0, '::1', () => resolve(true)));
    if (!ok) return skip('IPv6 loopback is not available');
    try {
      const v6port = (v6.address() as net.AddressInfo).port;
      const got = new Promise<net.Socket>((resolve) => v6.once('connection', resolve));
      const child = spawn(process.execPath, ['-e', `require('net').connect(${v6port}, '::1'); setTimeout(() => {}, 20000)`], { stdio: 'ignore' });
      children.push(child);
      const socket = await got;
      const fromProc = findClientSocket(parseProcNetTcp(readFileSync('/proc/net/tcp6', 'utf8')), queryFor(socket));
      expect(fromProc).toBeDefined();
      expect(addon.lookupTcp(6, '::1', socket.remotePort!, '::1', v6port)).toEqual({ uid: fromProc!.uid, inode: fromProc!.inode });
      socket.destroy();
    } finally {
      await new Promise((resolve) => v6.close(resolve));
    }
  });

  it('returns null once the connection is closed, and for a port nothing uses', async ({ skip }) => {
    if (!addon) return skip('sock_diag addon not built');
    const client = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => client.once('connect', resolve));
    const socket = await nextConnection();
    const clientPort = client.localPort!;
    expect(addon.lookupTcp(4, '127.0.0.1', clientPort, '127.0.0.1', port)).not.toBeNull();
    client.destroy();
    socket.destroy();
    await new Promise((resolve) => client.once('close', resolve));
    expect(addon.lookupTcp(4, '127.0.0.1', clientPort, '127.0.0.1', port)).toBeNull();
    expect(addon.lookupTcp(4, '127.0.0.1', 1, '127.0.0.1', port)).toBeNull();
  });

  it('rejects arguments it cannot turn into a lookup', ({ skip }) => {
    if (!addon) return skip('sock_diag addon not built');
    const lookup = addon.lookupTcp.bind(addon) as (...args: unknown[]) => unknown;
    expect(() => lookup(5, '127.0.0.1', 1, '127.0.0.1', 2)).toThrow(TypeError);
    expect(() => lookup(4, '::1', 1, '127.0.0.1', 2)).toThrow(TypeError);
    expect(() => lookup(4, '127.0.0.1', 70000, '127.0.0.1', 2)).toThrow(TypeError);
  });

  it('the resolver finds curl with the addon, without it, and when it fails, and trusts the kernel\'s "no such socket"', async () => {
    const withAddon = new LinuxProcessResolver();
    const withoutAddon = new LinuxProcessResolver({ loadSockDiag: () => undefined });
    const failing = new LinuxProcessResolver({
      loadSockDiag: () => ({
        lookupTcp: () => {
          throw new Error('sock_diag lookup failed: Protocol not supported');
        },
      }),
    });
    // An addon that always says "no such socket": with the proxy address given that is believed.
    const neverFinds = new LinuxProcessResolver({ loadSockDiag: () => ({ lookupTcp: () => null }) });
    const child = startCurl();
    const socket = await nextConnection();
    const q = queryFor(socket);
    for (const resolver of [withAddon, withoutAddon, failing]) {
      expect((await resolver.lookupByLocalPeer(q))?.pid).toBe(child.pid);
    }
    expect(await neverFinds.lookupByLocalPeer(q)).toBeUndefined();
    // Without the proxy address the answer came from a guessed tuple, so /proc/net/tcp is read.
    const { proxyAddress: _unused, ...guessed } = q;
    expect((await neverFinds.lookupByLocalPeer(guessed))?.pid).toBe(child.pid);
    socket.destroy();
  });
});
