// Attacks on the local API's caller identity by a real second user on the machine. Two OS users are
// created by the test (useradd) and removed after: a victim with a live process, and an attacker
// who runs curl under a file name crafted to read like the victim's pid in `ss -xp` output
// (`users:(("pid=<victim>",pid=<attacker>,fd=3))`), which the old resolver took for the victim.
// The daemon is a real one (startDaemon in a child process) enrolling at a real HTTP server; every
// call is a real process run as that user (setpriv) over the real socket.
import { CHALLENGE_PATH } from '../../protocol/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { localApiRoutes, type LocalRouteDeps } from '../../agent/src/daemon/local-routes.ts';
import type { StatusView } from '../../agent/src/daemon/status.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { ADDON_MISSING, LocalApi, peerCredentialResolver, platformCallerResolver, type CallerResolver } from '../../agent/src/localapi/index.ts';
import type { McpListRow } from '../../agent/src/mcp/index.ts';
import { SeenApps } from '../../agent/src/policy/index.ts';
import { freePort, HEIMDALL_BIN, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

const isRoot = process.getuid?.() === 0;
const DAEMON_CHILD = path.join(import.meta.dirname, '../daemon/gated-discovery-child.ts');
const KEY_A = 'sk-bf-Cq1wE4rT7yU0iO3pA6sD9fG2hJ5kL8zX';
const KEY_B = 'sk-bf-Zx8Lk5Jh2Gf9Ds6Ap3Oi0Uy7Tr4Ew1Qc';

interface TestUser {
  name: string;
  uid: number;
  gid: number;
}

function createUser(prefix: string): TestUser {
  const name = `${prefix}${process.pid % 100000}`;
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  return { name, uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })) };
}

/** Runs a command as `user` with that user's groups only (setpriv execs it in place). */
function asUser(user: TestUser | undefined, command: string, args: string[]) {
  return user ? runToEnd('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', command, ...args]) : runToEnd(command, args);
}

const CURL = isRoot ? execFileSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).trim() : 'curl';

/** One local API call with curl (or a copy of it) as `user`; the parsed status and body. */
async function call(user: TestUser | undefined, socket: string, method: string, route: string, body?: unknown, curl = CURL): Promise<{ status: number; body: unknown; text: string }> {
  const args = ['-s', '-w', '\n%{http_code}', '-X', method, '--unix-socket', socket, ...(body !== undefined ? ['-H', 'content-type: application/json', '-d', JSON.stringify(body)] : []), `http://heimdall${route}`];
  const res = await asUser(user, curl, args);
  expect(res.code, res.stderr).toBe(0);
  const at = res.stdout.lastIndexOf('\n');
  const text = res.stdout.slice(0, at);
  return { status: Number(res.stdout.slice(at + 1)), body: text ? (JSON.parse(text) as unknown) : undefined, text };
}

let victim: TestUser;
let attacker: TestUser;
let dir: string;

beforeAll(() => {
  if (!isRoot) return;
  victim = createUser('hv');
  attacker = createUser('ha');
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-peer-'));
  chmodSync(dir, 0o711);
});

afterAll(() => {
  if (!isRoot) return;
  rmSync(dir, { recursive: true, force: true });
  for (const u of [attacker, victim]) execFileSync('userdel', [u.name]);
});

describe.runIf(process.platform === 'linux' && isRoot)('a real daemon against another local user', { timeout: 120_000 }, () => {
  let daemon: RunningProcess;
  let gateway: Server;
  let socket: string;
  let stateDir: string;
  let victimProcess: ChildProcess;
  let forgedCurl: string;
  const enrolled: string[] = [];

  beforeAll(async () => {
    gateway = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        // Enrollment proves the device key with a signed challenge first (the fleet-trust protocol);
        // this stand-in issues one and takes the proof on trust: the caller's identity is under test here.
        if (req.url === CHALLENGE_PATH) {
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge: `peer-test-challenge-${enrolled.length}-0123456789`, expires_at: new Date(Date.now() + 60_000).toISOString() }));
        }
        const parsed = JSON.parse(body || '{}') as { os_user?: string; device?: { device_id: string } };
        if (!parsed.os_user || !parsed.device) return void res.writeHead(404).end();
        enrolled.push(parsed.os_user);
        const reply = { device_token: 'hdt_peer-test-token-0123456789', device_id: parsed.device.device_id, user: { id: `usr_${parsed.os_user}`, email: `${parsed.os_user}@example.com` }, control_url: '', token_expires_at: new Date(Date.now() + 3_600_000).toISOString() };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    const gatewayUrl = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
    stateDir = path.join(dir, 'state');
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ gateway_url: gatewayUrl, control_url: gatewayUrl }));
    daemon = startProcess(process.execPath, [DAEMON_CHILD, stateDir, config, String(await freePort())], { stdio: ['pipe', 'pipe', 'pipe'] });
    await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'), 60_000);
    // The development state dir is root's alone; let the two users reach the socket in it (0666).
    chmodSync(stateDir, 0o711);
    socket = path.join(stateDir, 'heimdall.sock');

    // A process of the victim's that is alive while the attacker calls.
    victimProcess = spawn('setpriv', [`--reuid=${victim.uid}`, `--regid=${victim.gid}`, '--clear-groups', 'sleep', '600'], { stdio: 'ignore' });
    // curl under a name that is the victim's pid as `ss` prints it: the kernel takes a process's
    // name (comm) from the file it executes.
    forgedCurl = path.join(dir, `pid=${victimProcess.pid!}`);
    copyFileSync(CURL, forgedCurl);
    chmodSync(forgedCurl, 0o755);
  });

  afterAll(async () => {
    victimProcess?.kill('SIGKILL');
    daemon?.child.kill('SIGTERM');
    await daemon?.exited;
    gateway?.closeAllConnections();
    await new Promise<void>((r) => (gateway ? gateway.close(() => r()) : r()));
  });

  it('a process named like the victim\'s pid signs in as its own user, never as the victim', async () => {
    const login = await call(attacker, socket, 'POST', '/v1/login', { virtual_key: KEY_B }, forgedCurl);
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ os_user: attacker.name });
    expect(enrolled).toEqual([attacker.name]);
    const root = (await call(undefined, socket, 'GET', '/v1/status')).body as { signed_in_users: string[] };
    expect(root.signed_in_users).toEqual([attacker.name]);
  });

  it('another user cannot sign the victim out; each signs out only themselves', async () => {
    expect((await call(victim, socket, 'POST', '/v1/login', { virtual_key: KEY_A })).status).toBe(200);
    const refused = await call(attacker, socket, 'POST', '/v1/logout', { os_user: victim.name }, forgedCurl);
    expect(refused).toMatchObject({ status: 403, body: { code: 'not_permitted' } });
    expect(((await call(undefined, socket, 'GET', '/v1/status')).body as { signed_in_users: string[] }).signed_in_users.sort()).toEqual([attacker.name, victim.name].sort());
    // Root may sign out a departed user by name.
    expect((await call(undefined, socket, 'POST', '/v1/logout', { os_user: attacker.name })).body).toEqual({ os_user: attacker.name, signed_out: true, revoked: null });
    expect((await call(attacker, socket, 'POST', '/v1/login', { virtual_key: KEY_B })).status).toBe(200);
    expect((await call(attacker, socket, 'POST', '/v1/logout', {})).body).toEqual({ os_user: attacker.name, signed_out: true, revoked: null });
    expect(((await call(undefined, socket, 'GET', '/v1/status')).body as { signed_in_users: string[] }).signed_in_users).toEqual([victim.name]);
  });

  it("status and apps show an unprivileged caller only their own user's data; root sees all", async () => {
    // Apps used by each user, written to the daemon's own database as the proxy records them.
    const db = new Database(path.join(stateDir, readdirSync(stateDir).find((f) => f.endsWith('.db'))!));
    db.pragma('busy_timeout = 5000');
    const seen = new SeenApps({ db });
    const decision = { verdict: 'allow', status: 'approved', scope: 'global', reason: 'approved', policyVersion: 1 } as const;
    seen.record({ appId: 'claude-code', displayName: 'Claude Code', kind: 'cli', osUser: victim.name, decision });
    seen.record({ appId: 'curl', displayName: 'curl', kind: 'cli', osUser: attacker.name, decision });
    db.close();

    const mine = await call(attacker, socket, 'GET', '/v1/status', undefined, forgedCurl);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ signed_in_users: [], reasons: expect.arrayContaining(['not_signed_in']) });
    expect(mine.text).not.toContain(victim.name);
    const apps = await call(attacker, socket, 'GET', '/v1/apps', undefined, forgedCurl);
    expect((apps.body as { appId: string }[]).map((a) => a.appId)).toEqual(['curl']);
    expect(apps.text).not.toContain(victim.name);

    const victims = (await call(victim, socket, 'GET', '/v1/status')).body as { signed_in_users: string[]; sections: { users: { signed_in: { os_user: string; email: string }[] } } };
    expect(victims.signed_in_users).toEqual([victim.name]);
    expect(victims.sections.users.signed_in).toEqual([expect.objectContaining({ os_user: victim.name, email: `${victim.name}@example.com` })]);

    const root = await call(undefined, socket, 'GET', '/v1/apps');
    expect((root.body as { appId: string }[]).map((a) => a.appId).sort()).toEqual(['claude-code', 'curl']);
  });
  it('`heimdall logout` run by each user signs out only that user', async () => {
    const cli = (user: TestUser, args: string[]) => asUser(user, process.execPath, [HEIMDALL_BIN, 'logout', '--state-dir', stateDir, ...args]);
    const refused = await cli(attacker, ['--user', victim.name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`only root may sign out another OS user (you are ${attacker.name})`);
    const own = await cli(victim, []);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout.trim()).toBe(`Signed out OS user ${victim.name}.`);
    expect(((await call(undefined, socket, 'GET', '/v1/status')).body as { signed_in_users: string[] }).signed_in_users).toEqual([]);
  });
});

describe.runIf(process.platform === 'linux' && isRoot)('route permissions over a real socket', () => {
  const apis: LocalApi[] = [];
  afterAll(async () => {
    await Promise.all(apis.map((a) => a.close()));
  });

  const mcpRow = (osUser: string, name: string): McpListRow => ({ name, osUser, app: 'cursor', scope: 'user', configPath: `/home/${osUser}/.cursor/mcp.json`, transport: 'stdio', fingerprint: `sha256:${name}`, env: [], headers: [], enabled: true, decision: { verdict: 'allow', status: 'approved' }, enforcedHow: 'none' });

  async function start(name: string, resolveCaller: CallerResolver, views: StatusView[] = []): Promise<string> {
    const socket = path.join(dir, `${name}.sock`);
    const deps: LocalRouteDeps = {
      status: (view) => (views.push(view), { signed_in_users: [] }) as never,
      login: () => Promise.resolve({ status: 200, body: { signed_in: true } }),
      signOut: () => Promise.resolve({ signed_out: true, revoked: null }),
      environment: () => undefined,
      caStatus: () => ({ certificate_path: '/var/run/heimdall/ca.pem' }) as never,
      apps: () => [],
      mcp: () => [mcpRow(victim.name, 'victim-db'), mcpRow(attacker.name, 'attacker-notes')],
      requestAccess: () => ({ outcome: 'offline' }),
    };
    const api = new LocalApi({ socketPath: socket, logger: silentLogger(), resolveCaller, routes: localApiRoutes(deps) });
    await api.listen();
    apis.push(api);
    return socket;
  }

  it("mcp shows an unprivileged caller only their own servers; root sees all", async () => {
    const socket = await start('mcp', platformCallerResolver());
    const mine = await call(attacker, socket, 'GET', '/v1/mcp');
    expect((mine.body as McpListRow[]).map((m) => m.name)).toEqual(['attacker-notes']);
    expect(mine.text).not.toContain(victim.name);
    expect(((await call(undefined, socket, 'GET', '/v1/mcp')).body as McpListRow[]).map((m) => m.name)).toEqual(['victim-db', 'attacker-notes']);
  });

  it('without the peer-credential addon, identity routes refuse and say why; machine facts still answer', async () => {
    const views: StatusView[] = [];
    const socket = await start('no-addon', peerCredentialResolver(undefined, 'linux', ADDON_MISSING), views);
    for (const [method, route] of [['POST', '/v1/login'], ['POST', '/v1/logout'], ['GET', '/v1/apps'], ['GET', '/v1/mcp']] as const) {
      expect(await call(undefined, socket, method, route, method === 'POST' ? {} : undefined)).toMatchObject({ status: 403, body: { error: ADDON_MISSING, code: 'unknown_caller' } });
    }
    expect((await call(undefined, socket, 'GET', '/v1/ca')).status).toBe(200);
    // Status answers (MDM health checks need it) with no user's data: the anonymous view.
    expect((await call(attacker, socket, 'GET', '/v1/status')).status).toBe(200);
    expect(views).toEqual([{ kind: 'anonymous' }]);
  });
});
