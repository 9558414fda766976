import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import {
  callerFromPeerCred,
  callerFromWindowsToken,
  callLocalApi,
  decideAccess,
  LocalApi,
  peerCredentialResolver,
  platformCallerResolver,
  type LocalCaller,
  type PeerCredAddon,
} from '../../agent/src/localapi/index.ts';
import { LOCAL_ROUTE_PERMISSIONS, localApiRoutes, type LocalRouteDeps } from '../../agent/src/daemon/local-routes.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { runToEnd } from '../helpers/process.ts';

const dirs: string[] = [];
const apis: LocalApi[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function startApi(): Promise<{ socket: string; callers: (LocalCaller | undefined)[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-api-'));
  chmodSync(dir, 0o755);
  dirs.push(dir);
  const socket = path.join(dir, 'api.sock');
  const callers: (LocalCaller | undefined)[] = [];
  const api = new LocalApi({
    socketPath: socket,
    logger: silentLogger(),
    resolveCaller: platformCallerResolver(),
    routes: [
      { method: 'GET', path: '/v1/whoami', permission: { access: 'read', scope: 'own' }, handle: ({ caller }) => (callers.push(caller), { status: 200, body: caller ?? null }) },
      { method: 'POST', path: '/v1/echo', permission: { access: 'write', scope: 'own' }, handle: ({ body }) => ({ status: 200, body }) },
    ],
  });
  await api.listen();
  apis.push(api);
  return { socket, callers };
}

describe('local API', () => {
  it('identifies the calling process and OS user from the unix socket peer', async () => {
    const { socket } = await startApi();
    const mine = await runToEnd('curl', ['-s', '--unix-socket', socket, 'http://heimdall/v1/whoami']);
    const caller = JSON.parse(mine.stdout) as LocalCaller;
    expect(caller).toMatchObject({ uid: process.getuid!(), gid: process.getgid!(), user: os.userInfo().username, privileged: process.getuid!() === 0 });
    expect(caller.pid).toBeGreaterThan(0);
    expect(caller.pid).not.toBe(process.pid);
  });

  it.runIf(process.getuid?.() === 0)('sees another OS user as that user', async () => {
    const { socket } = await startApi();
    const other = await runToEnd('curl', ['-s', '--unix-socket', socket, 'http://heimdall/v1/whoami'], { uid: 65534, gid: 65534 });
    expect(JSON.parse(other.stdout)).toMatchObject({ uid: 65534, gid: 65534, user: 'nobody', privileged: false });
  });

  it('refuses requests that carry Origin or Referer, as a browser would send', async () => {
    const { socket, callers } = await startApi();
    const res = await runToEnd('curl', ['-s', '-w', '\n%{http_code}', '-H', 'Origin: https://evil.example', '--unix-socket', socket, 'http://heimdall/v1/whoami']);
    expect(res.stdout.trim().split('\n')).toEqual(['{"error":"requests from web pages are refused"}', '403']);
    const ref = await runToEnd('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Referer: https://evil.example/x', '--unix-socket', socket, 'http://heimdall/v1/whoami']);
    expect(ref.stdout).toBe('403');
    expect(callers).toEqual([]);
  });

  it('answers unknown routes, bad JSON and oversized bodies with a clear error', async () => {
    const { socket } = await startApi();
    expect(await callLocalApi(socket, 'GET', '/v1/nope')).toEqual({ status: 404, body: { error: 'no local API route GET /v1/nope' } });
    const bad = await runToEnd('curl', ['-s', '-X', 'POST', '-d', '{not json', '--unix-socket', socket, 'http://heimdall/v1/echo']);
    expect(JSON.parse(bad.stdout)).toEqual({ error: 'request body is not valid JSON' });
    const big = await callLocalApi(socket, 'POST', '/v1/echo', { x: 'y'.repeat(70 * 1024) }).catch((e: Error) => e);
    expect(big instanceof Error ? big.message : String(big.status)).toMatch(/413|EPIPE|ECONNRESET/);
    expect(await callLocalApi(socket, 'POST', '/v1/echo', { hello: 'world' })).toEqual({ status: 200, body: { hello: 'world' } });
  });

  it('says why when the kernel refuses the peer lookup, and never guesses', async () => {
    const throwing: PeerCredAddon = {
      peerCred: () => {
        throw new Error('SO_PEERCRED failed: Bad file descriptor');
      },
      userName: () => null,
    };
    const resolve = peerCredentialResolver(throwing, 'linux', 'no addon');
    const { Socket } = await import('node:net');
    expect(resolve(new Socket())).toEqual({ unknown: 'the connection has no socket descriptor (already closed?)' });
    const fake = Object.assign(new Socket(), { _handle: { fd: 7 } });
    expect(resolve(fake)).toEqual({ unknown: 'the kernel did not say who is calling (SO_PEERCRED failed: Bad file descriptor)' });
    expect(peerCredentialResolver(undefined, 'darwin', 'no addon')(fake)).toEqual({ unknown: 'no addon' });
    // Windows: a socket with no TCP addresses (closed) is unknown, not guessed; so is an addon that throws.
    const win = peerCredentialResolver({ tcpPeer: () => ({ pid: 1, sid: 'S-1-5-18', privileged: true }) }, 'win32', 'no addon');
    expect(win(new Socket())).toEqual({ unknown: 'the connection has no TCP addresses (already closed?)' });
    const winThrowing = peerCredentialResolver({ tcpPeer: () => { throw new Error('OpenProcess failed: Windows error 5'); } }, 'win32', 'no addon');
    const ends = { remoteAddress: '127.0.0.1', remotePort: 50000, localAddress: '127.0.0.1', localPort: 47631, remoteFamily: 'IPv4' };
    expect(winThrowing(ends as never)).toEqual({ unknown: 'the kernel did not say who is calling (OpenProcess failed: Windows error 5)' });
    expect(peerCredentialResolver(undefined, 'win32', 'no addon')(fake)).toEqual({ unknown: 'no addon' });
  });
});

describe('caller identity, pure parts', () => {
  it('keys a caller by its account name, or by uid when the uid has none; only uid 0 is privileged', () => {
    expect(callerFromPeerCred({ pid: 42, uid: 1000, gid: 1000 }, 'dana')).toEqual({ pid: 42, uid: 1000, gid: 1000, user: 'dana', privileged: false });
    expect(callerFromPeerCred({ pid: 43, uid: 4242, gid: 10 }, null)).toEqual({ pid: 43, uid: 4242, gid: 10, user: 'uid:4242', privileged: false });
    expect(callerFromPeerCred({ pid: 1, uid: 0, gid: 0 }, 'root').privileged).toBe(true);
  });

  it('maps a Windows peer token: LocalSystem or an elevated token is privileged, a nameless account keyed by SID', () => {
    expect(callerFromWindowsToken({ pid: 7, sid: 'S-1-5-21-1-2-3-1001', user: 'CORP\\dana', privileged: false })).toEqual({
      pid: 7, uid: -1, gid: -1, user: 'CORP\\dana', privileged: false, sid: 'S-1-5-21-1-2-3-1001',
    });
    expect(callerFromWindowsToken({ pid: 8, sid: 'S-1-5-18', privileged: false }).privileged).toBe(true);
    expect(callerFromWindowsToken({ pid: 9, sid: 'S-1-5-21-9', privileged: false }).user).toBe('S-1-5-21-9');
  });

  it('decides each route permission for root, a user and an unknown caller', () => {
    const dana = callerFromPeerCred({ pid: 2, uid: 1000, gid: 1000 }, 'dana');
    const root = callerFromPeerCred({ pid: 3, uid: 0, gid: 0 }, 'root');
    const own = { access: 'read', scope: 'own' } as const;
    expect(decideAccess(own, { caller: dana })).toEqual({ view: { kind: 'user', caller: dana, osUser: 'dana' } });
    expect(decideAccess(own, { caller: root })).toEqual({ view: { kind: 'all', caller: root } });
    expect(decideAccess(own, { unknown: 'why' })).toEqual({ refuse: 'why' });
    expect(decideAccess({ ...own, unidentified: 'no-user-data' }, { unknown: 'why' })).toEqual({ view: { kind: 'anonymous', reason: 'why' } });
    expect(decideAccess({ access: 'read', scope: 'machine' }, { unknown: 'why' })).toEqual({ view: { kind: 'anonymous', reason: 'why' } });
  });

  it('compiles each OS\'s peer-credential source only on that OS (binding.gyp conditions)', () => {
    const gyp = readFileSync(path.join(import.meta.dirname, '../../agent/native/sockdiag/binding.gyp'), 'utf8');
    // gyp is a Python literal; without its comments this one is JSON.
    const parsed = JSON.parse(gyp.replace(/^\s*#.*$/gm, '')) as { targets: { target_name: string; sources?: string[]; conditions: [string, { sources: string[] }][] }[] };
    const [target] = parsed.targets;
    expect(target?.target_name).toBe('sockdiag');
    expect(target?.sources).toBeUndefined();
    expect(Object.fromEntries(target!.conditions.map(([when, then]) => [when, then.sources]))).toEqual({
      "OS=='linux'": ['sockdiag.c', 'fsat_posix.c'],
      "OS=='mac'": ['peercred_darwin.c', 'fsat_posix.c'],
      "OS=='win'": ['peercred_win.c', 'host_api_win.c'],
    });
    for (const [file, calls] of [['peercred_darwin.c', ['LOCAL_PEERCRED', 'LOCAL_PEERPID', 'getpwuid_r']], ['peercred_win.c', ['GetExtendedTcpTable', 'OpenProcessToken', 'TokenUser', 'CreateProcessAsUserW', 'WTSQueryUserToken']], ['sockdiag.c', ['SO_PEERCRED', 'getpwuid_r']]] as const) {
      const source = readFileSync(path.join(import.meta.dirname, '../../agent/native/sockdiag', file), 'utf8');
      for (const c of calls) expect(source, `${file} uses ${c}`).toContain(c);
    }
  });
});

describe('the route permission table', () => {
  it('gives every local API route exactly one permission row, and docs/architecture.md lists each as the code has it', () => {
    const routes = localApiRoutes({} as LocalRouteDeps);
    expect(routes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(Object.keys(LOCAL_ROUTE_PERMISSIONS).sort());
    const doc = readFileSync(path.join(import.meta.dirname, '../../docs/architecture.md'), 'utf8');
    const table = doc.slice(doc.indexOf('<!-- local-api-permissions'));
    const rows = new Map(
      [...table.matchAll(/^\| `(\w+ \/v1\/[\w/:-]+)` \| (\w+) \| (\w+) \|/gm)].map((m) => [m[1], { access: m[2], scope: m[3] }]),
    );
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(LOCAL_ROUTE_PERMISSIONS).map(([k, v]) => [k, { access: v.access, scope: v.scope }])));
  });
});
