// Real processes (curl, node, python3) connect to a real TCP server; the Linux resolver must find
// each one from the server's side of the socket, as the proxy will.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppResolver, createProcessResolver, LinuxProcessResolver, type PeerQuery, type ProcessIdentity } from '../../agent/src/identify/index.ts';
import { appIdSchema } from '../../protocol/index.ts';

const isLinux = process.platform === 'linux';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

interface Listener {
  server: net.Server;
  port: number;
  nextConnection(): Promise<net.Socket>;
  close(): Promise<void>;
}

async function listen(host: string): Promise<Listener> {
  const server = net.createServer();
  const waiting: ((s: net.Socket) => void)[] = [];
  const queued: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    const w = waiting.shift();
    if (w) w(s);
    else queued.push(s);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    server,
    port,
    nextConnection: () => {
      const q = queued.shift();
      return q ? Promise.resolve(q) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function queryFor(socket: net.Socket, proxyPort: number): PeerQuery {
  return { clientPort: socket.remotePort!, clientAddress: socket.remoteAddress!, proxyPort, family: socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' };
}

const children: ChildProcess[] = [];
function start(command: string, args: string[], options: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore', ...options });
  children.push(child);
  return child;
}

const dirs: string[] = [];
let v4: Listener;
let v6: Listener | undefined;
let python: string;
const resolver = new LinuxProcessResolver();
const apps = new AppResolver({ platform: 'linux' });

beforeAll(async () => {
  v4 = await listen('127.0.0.1');
  v6 = await listen('::1').catch(() => undefined);
  python = realpathSync(execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim());
});

afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

afterAll(async () => {
  await v4.close();
  await v6?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'heimdall-identify-'));
  dirs.push(d);
  return d;
}

async function identify(listener: Listener, child: ChildProcess): Promise<{ identity: ProcessIdentity | undefined; socket: net.Socket }> {
  const socket = await listener.nextConnection();
  const identity = await resolver.lookupByLocalPeer(queryFor(socket, listener.port));
  expect(child.exitCode).toBeNull();
  return { identity, socket };
}

describe.runIf(isLinux)('Linux process resolver with real clients', () => {
  it('finds curl: pid, executable, argv, uid and user, and names the app curl', async () => {
    const child = start('curl', ['-s', '-m', '20', `http://127.0.0.1:${v4.port}/hello`]);
    const { identity } = await identify(v4, child);
    expect(identity?.pid).toBe(child.pid);
    expect(identity?.exe).toBe(realpathSync(execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim()));
    expect(identity?.argv).toEqual(['curl', '-s', '-m', '20', `http://127.0.0.1:${v4.port}/hello`]);
    expect(identity?.uid).toBe(process.getuid!());
    expect(identity?.user).toBe(execFileSync('id', ['-un'], { encoding: 'utf8' }).trim());
    const app = await apps.resolveApp(identity, { userAgent: 'curl/8.5.0' });
    expect(app).toMatchObject({ appId: 'curl', displayName: 'curl', kind: 'cli', matchedBy: 'executable', userAgentAppId: 'curl' });
  });

  it('attributes `node script.mjs` to the script, resolving the relative path against the working directory', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'call-sdk.mjs'), `import net from 'node:net'; net.connect(${v4.port}, '127.0.0.1'); setTimeout(() => {}, 20000);\n`);
    const child = start(process.execPath, ['--no-warnings', 'call-sdk.mjs'], { cwd: dir });
    const { identity } = await identify(v4, child);
    expect(identity?.pid).toBe(child.pid);
    expect(identity?.exe).toBe(realpathSync(process.execPath));
    expect(identity?.cwd).toBe(realpathSync(dir));
    const app = await apps.resolveApp(identity);
    expect(app.matchedBy).toBe('interpreter');
    expect(app.kind).toBe('sdk');
    expect(app.appId).toMatch(/^script:node:[0-9a-f]{16}$/);
    expect(app.subject).toBe(path.join(realpathSync(dir), 'call-sdk.mjs'));
    expect(app.displayName).toBe('call-sdk.mjs (node)');
    expect(appIdSchema.safeParse(app.appId).success).toBe(true);
  });

  it('attributes a python3 urllib call to the script', async () => {
    const dir = tempDir();
    const script = path.join(dir, 'ask model.py');
    writeFileSync(script, `import urllib.request\nurllib.request.urlopen('http://127.0.0.1:${v4.port}/v1/messages', timeout=20)\n`);
    const child = start(python, ['-u', script]);
    const { identity } = await identify(v4, child);
    expect(identity?.pid).toBe(child.pid);
    expect(identity?.exe).toBe(python);
    const app = await apps.resolveApp(identity);
    expect(app.appId).toMatch(/^script:python3:[0-9a-f]{16}$/);
    expect(app.subject).toBe(script);
    // The same script by another spelling of the interpreter is the same app.
    const again = await apps.resolveApp({ ...identity!, exe: '/usr/bin/python3.12', argv: ['python3', script] });
    expect(again.appId).toBe(app.appId);
  });

  it('finds a client connected over IPv6 loopback [::1]', async () => {
    if (!v6) return expect.fail('IPv6 loopback is not available on this machine');
    const child = start('curl', ['-s', '-g', '-m', '20', `http://[::1]:${v6.port}/`]);
    const { identity, socket } = await identify(v6, child);
    expect(socket.remoteAddress).toBe('::1');
    expect(identity?.pid).toBe(child.pid);
    expect((await apps.resolveApp(identity)).appId).toBe('curl');
  });

  it('tells apart two connections of one process by their ports', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'two.mjs'), `import net from 'node:net'; net.connect(${v4.port}, '127.0.0.1'); net.connect(${v4.port}, '127.0.0.1'); setTimeout(() => {}, 20000);\n`);
    const child = start(process.execPath, [path.join(dir, 'two.mjs')]);
    const a = await identify(v4, child);
    const b = await identify(v4, child);
    expect(a.socket.remotePort).not.toBe(b.socket.remotePort);
    expect(a.identity?.pid).toBe(child.pid);
    expect(b.identity?.pid).toBe(child.pid);
    // A port that is not a client of this listener finds nothing.
    expect(await resolver.lookupByLocalPeer({ clientPort: a.socket.remotePort!, proxyPort: v4.port + 1 })).toBeUndefined();
  });

  it('degrades to undefined and the app to `unknown` when the client exited before the lookup', async () => {
    const child = start('curl', ['-s', '-m', '20', `http://127.0.0.1:${v4.port}/`]);
    const socket = await v4.nextConnection();
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const identity = await resolver.lookupByLocalPeer(queryFor(socket, v4.port));
    expect(identity).toBeUndefined();
    expect(await apps.resolveApp(identity)).toMatchObject({ appId: 'unknown', kind: 'unknown', matchedBy: 'none' });
  });

  it('never rejects when the client is killed while the lookup runs', async () => {
    for (let i = 0; i < 5; i++) {
      const child = start('curl', ['-s', '-m', '20', `http://127.0.0.1:${v4.port}/`]);
      const socket = await v4.nextConnection();
      const lookup = resolver.lookupByLocalPeer(queryFor(socket, v4.port));
      child.kill('SIGKILL');
      const identity = await lookup;
      // Either the process was read before it died (then it is the right one) or it is unknown.
      if (identity) expect(identity.pid).toBe(child.pid);
    }
  });

  it('is what createProcessResolver picks on Linux', () => {
    expect(createProcessResolver('linux')).toBeInstanceOf(LinuxProcessResolver);
    expect(() => createProcessResolver('aix')).toThrow(/not supported on aix/);
  });
});

describe.runIf(isLinux && isRoot)('Linux process resolver with a second OS user', () => {
  const name = `hd-t${process.pid % 100000}`;
  let uid: number;

  beforeAll(() => {
    execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  });
  afterAll(() => {
    execFileSync('userdel', [name]);
  });

  it('sees a client run as that user as that uid and user name', async () => {
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    const child = start('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'curl', '-s', '-m', '20', `http://127.0.0.1:${v4.port}/`]);
    const { identity } = await identify(v4, child);
    expect(identity?.pid).toBe(child.pid); // setpriv execs curl in place
    expect(identity?.uid).toBe(uid);
    expect(identity?.user).toBe(name);
    expect((await apps.resolveApp(identity)).appId).toBe('curl');
  });
});
