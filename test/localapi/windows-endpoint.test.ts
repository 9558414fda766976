// The Windows local API's TypeScript, run here on Linux with real loopback TCP connections: the
// Windows addon's answers (tcpPeer, tcpOwnerPid) are played by this kernel's own TCP table through
// the Linux addon's sock_diag lookup (lookupTcp names the uid owning a socket by its exact ends). The
// ends the TypeScript hands the addon must be the caller's, not the daemon's: a caller running as
// another user than the server shows it (swapped ends would name the server's own user). The C side
// (GetExtendedTcpTable, the token) is compiled by test/installer/windows-addon.test.ts.
import type { Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  callLocalApi,
  LocalApi,
  LOCAL_API_CLIENT_HEADER,
  parseLocalEndpoint,
  peerCredentialResolver,
  refuseOnTcp,
  serviceOwnerCheck,
  UntrustedDaemonError,
  WINDOWS_SERVICE_NAME,
  type LocalCaller,
  type PeerCredAddon,
} from '../../agent/src/localapi/index.ts';
import { WINDOWS_SERVICE_NAME as INSTALLED_SERVICE_NAME } from '../../agent/src/install/index.ts';
import { loadSockdiagAddon } from '../../agent/src/lib/sockdiag-addon.ts';
import { developmentPort, resolvePaths, WINDOWS_LOCAL_API_PORT } from '../../agent/src/lib/platform.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { freePort, runToEnd } from '../helpers/process.ts';

type LookupTcp = (family: 4 | 6, localAddr: string, localPort: number, remoteAddr: string, remotePort: number) => { uid: number; inode: number } | null;
const linux = loadSockdiagAddon() as { lookupTcp: LookupTcp; userName: (uid: number) => string | null } | undefined;
const ROOT = process.getuid?.() === 0;

/** The Windows addon's surface, answered from this kernel's TCP table (uid where Windows has a SID and a pid). */
function kernelBackedAddon(): PeerCredAddon {
  const { lookupTcp, userName } = linux!;
  return {
    tcpPeer: (family, peerAddr, peerPort, ownAddr, ownPort) => {
      const owner = lookupTcp(family, peerAddr, peerPort, ownAddr, ownPort);
      if (!owner) return null;
      return { pid: owner.uid, sid: `S-1-5-21-0-0-0-${owner.uid}`, ...(userName(owner.uid) ? { user: `HOST\\${userName(owner.uid)}` } : {}), privileged: owner.uid === 0 };
    },
    tcpOwnerPid: (family, localAddr, localPort, remoteAddr, remotePort) => lookupTcp(family, localAddr, localPort, remoteAddr, remotePort)?.uid ?? null,
    // The "service" runs as root here: its uid stands for its process id.
    servicePid: (name) => (name === WINDOWS_SERVICE_NAME ? 0 : null),
  };
}

const apis: LocalApi[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function startTcpApi(addon: PeerCredAddon | undefined): Promise<{ port: number; callers: (LocalCaller | undefined)[] }> {
  const port = await freePort();
  const callers: (LocalCaller | undefined)[] = [];
  const api = new LocalApi({
    socketPath: `127.0.0.1:${port}`,
    logger: silentLogger(),
    resolveCaller: peerCredentialResolver(addon, 'win32', 'no addon on this build'),
    routes: [
      { method: 'GET', path: '/v1/whoami', permission: { access: 'read', scope: 'own' }, handle: ({ caller }) => (callers.push(caller), { status: 200, body: caller ?? null }) },
      { method: 'GET', path: '/v1/version', permission: { access: 'read', scope: 'machine' }, handle: () => ({ status: 200, body: { ok: true } }) },
    ],
  });
  await api.listen();
  apis.push(api);
  return { port, callers };
}

const curlArgs = (port: number, extra: string[] = []): string[] => ['-s', '-w', '\n%{http_code}', '-H', `${LOCAL_API_CLIENT_HEADER}: 1`, ...extra, `http://127.0.0.1:${port}/v1/whoami`];

describe('the Windows local API endpoint (loopback TCP), its TypeScript on this kernel', () => {
  it('listens on 127.0.0.1 at a fixed port for the machine daemon and a per-state-dir port for development daemons', () => {
    expect(resolvePaths({ platform: 'win32' }).localApiSocket).toBe(`127.0.0.1:${WINDOWS_LOCAL_API_PORT}`);
    const dev = resolvePaths({ platform: 'win32', stateDir: '/tmp/some-state' }).localApiSocket;
    expect(dev).toBe(`127.0.0.1:${developmentPort('/tmp/some-state')}`);
    expect(parseLocalEndpoint(dev)).toEqual({ kind: 'tcp', host: '127.0.0.1', port: developmentPort('/tmp/some-state') });
    expect(parseLocalEndpoint('/var/run/heimdall/heimdall.sock')).toEqual({ kind: 'socket', path: '/var/run/heimdall/heimdall.sock' });
    expect(() => parseLocalEndpoint('127.0.0.1:70000')).toThrow(/port must be 1-65535/);
    // The CLI checks the service by the name the .msi installs.
    expect(WINDOWS_SERVICE_NAME).toBe(INSTALLED_SERVICE_NAME);
  });

  it.runIf(ROOT)('names the caller by the owner of the connection\'s other end, not the daemon\'s own end', async () => {
    expect(linux, 'the Linux addon is not built: npm ci').toBeDefined();
    const { port } = await startTcpApi(kernelBackedAddon());
    const other = await runToEnd('curl', curlArgs(port), { uid: 65534, gid: 65534 });
    const [body, code] = other.stdout.trim().split('\n');
    expect(code).toBe('200');
    expect(JSON.parse(body!)).toMatchObject({ pid: 65534, uid: -1, gid: -1, user: `HOST\\${linux!.userName(65534)}`, privileged: false, sid: 'S-1-5-21-0-0-0-65534' });
    const mine = await runToEnd('curl', curlArgs(port));
    expect(JSON.parse(mine.stdout.trim().split('\n')[0]!)).toMatchObject({ pid: 0, privileged: true });
  });

  it('refuses identity-bound routes when the addon is absent, and still answers machine routes', async () => {
    const { port, callers } = await startTcpApi(undefined);
    const own = await runToEnd('curl', curlArgs(port));
    expect(own.stdout.trim().split('\n')).toEqual([JSON.stringify({ error: 'no addon on this build', code: 'unknown_caller' }), '403']);
    expect(callers).toEqual([]);
    expect(await callLocalApi(`127.0.0.1:${port}`, 'GET', '/v1/version')).toEqual({ status: 200, body: { ok: true } });
  });

  it('refuses what a web page can send to a loopback port: browser headers, a rebound Host, no client header', async () => {
    const { port, callers } = await startTcpApi(linux ? kernelBackedAddon() : undefined);
    const attempts: [string, string[]][] = [
      ['Origin', ['-H', 'Origin: https://evil.example']],
      ['Sec-Fetch-Site (a no-cors fetch with no Origin and no Referer)', ['-H', 'Sec-Fetch-Site: cross-site', '-H', 'Sec-Fetch-Mode: no-cors']],
      ['a DNS-rebound Host', ['-H', `Host: rebind.evil.example:${port}`]],
    ];
    for (const [what, extra] of attempts) {
      const r = await runToEnd('curl', curlArgs(port, extra));
      expect({ what, code: r.stdout.trim().split('\n').at(-1) }).toEqual({ what, code: '403' });
    }
    // A simple GET a page can make without a preflight carries no client header.
    const bare = await runToEnd('curl', ['-s', '-w', '\n%{http_code}', `http://127.0.0.1:${port}/v1/whoami`]);
    expect(bare.stdout.trim().split('\n')).toEqual([JSON.stringify({ error: `the local API answers only its own client (the ${LOCAL_API_CLIENT_HEADER} header is missing)` }), '403']);
    expect(callers).toEqual([]);
    expect(refuseOnTcp({ host: `127.0.0.1:${port}`, [LOCAL_API_CLIENT_HEADER]: '1' }, port)).toBeUndefined();
    expect(refuseOnTcp({ host: `localhost:${port}`, [LOCAL_API_CLIENT_HEADER]: '1' }, port)).toMatch(/Host 127\.0\.0\.1/);
  });

  it('asks again while the server\'s end waits unaccepted in the listener\'s queue (no owner yet), and refuses an owner that never shows', async () => {
    const ends = { remoteAddress: '127.0.0.1', remotePort: 4143, localAddress: '127.0.0.1', localPort: 50000, remoteFamily: 'IPv4' };
    let asked = 0;
    const lateAccept: PeerCredAddon = { tcpOwnerPid: () => (++asked < 3 ? null : 0), servicePid: () => 0 };
    expect(await serviceOwnerCheck(lateAccept)(ends)).toBeUndefined();
    expect(asked).toBe(3);
    let squatterAsked = 0;
    const squatter: PeerCredAddon = { tcpOwnerPid: () => (++squatterAsked, 4242), servicePid: () => 0 };
    expect(await serviceOwnerCheck(squatter)(ends)).toBe('127.0.0.1:4143 is held by process 4242, not by the Heimdall service (process 0)');
    expect(squatterAsked).toBe(1);
    const nobody: PeerCredAddon = { tcpOwnerPid: () => null, servicePid: () => 0 };
    expect(await serviceOwnerCheck(nobody)(ends)).toBe('127.0.0.1:4143 is held by process (unknown), not by the Heimdall service (process 0)');
  });

  it.runIf(ROOT)('sends nothing, not even the request line, to a process of another user squatting the daemon\'s port', async () => {
    expect(linux, 'the Linux addon is not built: npm ci').toBeDefined();
    const port = await freePort();
    // The squatter: another OS user listening on the port, recording every byte it is sent.
    const squatter = `
import socket
s = socket.socket(); s.bind(("127.0.0.1", ${port})); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); data = b""
c.settimeout(5)
try:
    while True:
        chunk = c.recv(65536)
        if not chunk: break
        data += chunk
except Exception: pass
print("got", len(data), flush=True)`;
    const { spawn } = await import('node:child_process');
    const child = spawn('python3', ['-c', squatter], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('ready') && resolve()));
    const exited = new Promise((r) => child.once('close', r));
    const secret = { virtual_key: 'sk-bf-never-sent' };
    const refused = await callLocalApi(`127.0.0.1:${port}`, 'POST', '/v1/login', secret, { checkServer: serviceOwnerCheck(kernelBackedAddon()) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UntrustedDaemonError);
    expect((refused as Error).message).toBe(`refusing to talk to 127.0.0.1:${port}: 127.0.0.1:${port} is held by process 65534, not by the Heimdall service (process 0)`);
    await exited;
    expect(out.trim().split('\n')).toEqual(['ready', 'got 0']);

    // The service itself (root here) passes the same check.
    const { port: real } = await startTcpApi(kernelBackedAddon());
    expect((await callLocalApi(`127.0.0.1:${real}`, 'GET', '/v1/version', undefined, { checkServer: serviceOwnerCheck(kernelBackedAddon()) })).status).toBe(200);
    // Without the addon nothing can be checked: refused, not trusted.
    const blind = await callLocalApi(`127.0.0.1:${real}`, 'GET', '/v1/version', undefined, { checkServer: serviceOwnerCheck(undefined) }).catch((e: unknown) => e);
    expect((blind as Error).message).toMatch(/no native addon to check that the Heimdall service answers/);
  });
});
