// The Linux resolver caches a process's parent chain while its parent stays the same, and must
// notice when the process is reparented (its parent died): real processes, real sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { LinuxProcessResolver } from '../../agent/src/identify/linux.ts';
import { startAcceptingServer, type AcceptingServer } from '../helpers/accepting-server.ts';

let server: AcceptingServer;
let port: number;
const children: ChildProcess[] = [];
const nextConnection = (): Promise<net.Socket> => server.nextConnection();

beforeAll(async () => {
  server = await startAcceptingServer();
  port = server.port;
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server.close();
});

describe.runIf(process.platform === 'linux')('Linux resolver caches', () => {
  it('reuses the parent chain for a second connection and reads it again after a reparent', async () => {
    // sh starts a node client in the background and waits; the client connects once, and again on
    // every SIGUSR2.
    const client = `
      const net = require('node:net');
      const open = () => net.connect(${port}, '127.0.0.1');
      const held = [open()];
      process.on('SIGUSR2', () => held.push(open()));
      setInterval(() => {}, 1000);
    `;
    const shell = spawn('sh', ['-c', `node -e "$CLIENT" & echo $! ; wait`], { env: { ...process.env, CLIENT: client }, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(shell);
    const nodePid = await new Promise<number>((resolve) => shell.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    children.push({ kill: (sig: NodeJS.Signals) => process.kill(nodePid, sig) } as unknown as ChildProcess);

    const resolver = new LinuxProcessResolver();
    const query = (s: net.Socket) => ({ clientPort: s.remotePort!, clientAddress: s.remoteAddress!, proxyPort: s.localPort!, proxyAddress: s.localAddress!, family: 'IPv4' as const });

    const first = await resolver.lookupByLocalPeer(query(await nextConnection()));
    expect(first?.pid).toBe(nodePid);
    expect(first?.parents[0]?.pid).toBe(shell.pid);

    process.kill(nodePid, 'SIGUSR2');
    const second = await resolver.lookupByLocalPeer(query(await nextConnection()));
    expect(second?.parents).toBe(first?.parents); // the same cached chain, not read again

    // The shell dies: the client is reparented, and its chain must no longer name the shell.
    shell.kill('SIGKILL');
    await new Promise((r) => shell.once('exit', r));
    process.kill(nodePid, 'SIGUSR2');
    const third = await resolver.lookupByLocalPeer(query(await nextConnection()));
    expect(third?.pid).toBe(nodePid);
    expect(third?.parents[0]?.pid).not.toBe(shell.pid);
    expect(third?.parents).not.toBe(first?.parents);
  });
});
