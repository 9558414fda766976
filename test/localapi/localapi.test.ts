import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { callLocalApi, LocalApi, linuxCallerResolver, parseSsUnixOutput, type LocalCaller } from '../../agent/src/localapi/index.ts';
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
    resolveCaller: linuxCallerResolver,
    routes: [
      { method: 'GET', path: '/v1/whoami', handle: ({ caller }) => (callers.push(caller), { status: 200, body: caller ?? null }) },
      { method: 'POST', path: '/v1/echo', needsCaller: true, handle: ({ body }) => ({ status: 200, body }) },
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
    expect(JSON.parse(mine.stdout)).toMatchObject({ uid: process.getuid!(), pid: expect.any(Number) });
  });

  it.runIf(process.getuid?.() === 0)('sees another OS user as that user', async () => {
    const { socket } = await startApi();
    const other = await runToEnd('curl', ['-s', '--unix-socket', socket, 'http://heimdall/v1/whoami'], { uid: 65534, gid: 65534 });
    expect(JSON.parse(other.stdout)).toMatchObject({ uid: 65534, user: 'nobody' });
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

  it('parses ss output, including socket paths with spaces', () => {
    const out = [
      'u_str ESTAB 0      0      /Library/Application Support/Heimdall/heimdall.sock 18458 * 18457 users:(("node",pid=9863,fd=5))',
      'u_str ESTAB 0      0                * 18457 * 18458 users:(("curl",pid=77,fd=4),("curl",pid=78,fd=4))',
      'u_dgr UNCONN 0 0 * 1234 * 0',
    ].join('\n');
    expect(parseSsUnixOutput(out)).toEqual([
      { inode: 18458, peerInode: 18457, pids: [9863] },
      { inode: 18457, peerInode: 18458, pids: [77, 78] },
      { inode: 1234, peerInode: 0, pids: [] },
    ]);
  });
});
