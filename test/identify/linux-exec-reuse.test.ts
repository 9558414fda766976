// The Linux resolver's cache (recent holders) must not name a process by what ran under its pid
// before: a process that exec'd another program keeps its pid and start time, and a pid can be
// handed to a new process. Real processes that exec (process.execve) and real sockets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import type net from 'node:net';
import { LinuxProcessResolver } from '../../agent/src/identify/linux.ts';
import { startAcceptingServer, type AcceptingServer } from '../helpers/accepting-server.ts';

let server: AcceptingServer;
let port: number;
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await startAcceptingServer();
  port = server.port;
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await server.close();
});

const query = (s: net.Socket) => ({ clientPort: s.remotePort!, clientAddress: s.remoteAddress!, proxyPort: s.localPort!, proxyAddress: s.localAddress!, family: 'IPv4' as const });

// A node process that connects, and on SIGUSR2 exec's itself into a node process with the next label
// in `labels` that connects again (its first socket is close-on-exec, as node's are).
const execingClient = (): string => `
  const net = require('node:net');
  const [label, ...rest] = process.argv.slice(1);
  const held = net.connect(${port}, '127.0.0.1');
  process.on('SIGUSR2', () => process.execve(process.execPath, [process.execPath, '-e', process.env.CLIENT, ...rest], process.env));
  setInterval(() => {}, 1000);
`;

describe.runIf(process.platform === 'linux' && typeof process.execve === 'function')('Linux resolver across exec', () => {
  it('names a process by the program it runs now after it exec\'d, not the one it was seen running', async () => {
    const client = execingClient();
    const child = spawn(process.execPath, ['-e', client, 'first-program', 'second-program'], { env: { ...process.env, CLIENT: client }, stdio: 'ignore' });
    children.push(child);
    const resolver = new LinuxProcessResolver();

    const first = await resolver.lookupByLocalPeer(query(await server.nextConnection()));
    expect(first?.pid).toBe(child.pid);
    expect(first?.argv).toContain('first-program');

    child.kill('SIGUSR2');
    const second = await resolver.lookupByLocalPeer(query(await server.nextConnection()));
    expect(second?.pid).toBe(child.pid); // same pid and start time: a cache keyed by them alone would answer first-program
    expect(second?.argv).toContain('second-program');
    expect(second?.argv).not.toContain('first-program');
  });
});
