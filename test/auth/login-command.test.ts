// `heimdall login --virtual-key` as a real process: the key from a pipe or a hidden prompt on a real
// pseudo-terminal, sent over the real local API (unix socket, caller identified by the kernel) to the
// login handler, which enrolls at a real HTTP server. The key is never echoed and never taken from argv.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AUTH_MIGRATIONS, Credentials, FileDeviceKeyStore, loginRouteHandler } from '../../agent/src/auth/index.ts';
import { CHALLENGE_PATH } from '../../protocol/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { LocalApi, platformCallerResolver } from '../../agent/src/localapi/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { throwawayVault } from '../helpers/vault.ts';

const KEY = 'sk-bf-Cq1wE4rT7yU0iO3pA6sD9fG2hJ5kL8zX';
const CHILD = path.join(import.meta.dirname, 'login-cli-child.ts');
const whoami = os.userInfo().username;

let dir: string;
let store: Store;
let credentials: Credentials;
let gateway: Server;
let api: LocalApi;
let socketPath: string;
let loginCalls = 0;
const enrollBodies: { virtual_key: string; os_user: string }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-login-cli-'));
  store = new Store({ stateDir: path.join(dir, 'state'), logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
  credentials = new Credentials(store.db, throwawayVault());
  gateway = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      // Enrollment starts with a challenge for the device key to sign.
      if (req.url === CHALLENGE_PATH) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ challenge: 'c1.4102444800000.cli-test-challenge.mac', expires_at: '2100-01-01T00:00:00.000Z' }));
      const parsed = JSON.parse(body) as { virtual_key: string; os_user: string; device: { device_id: string } };
      enrollBodies.push(parsed);
      const reply = JSON.stringify({ device_token: 'hdt_cli-test-token-0123456789', device_id: parsed.device.device_id, user: { id: 'usr_9', email: 'dana@example.com' }, control_url: '', token_expires_at: '2100-01-01T00:00:00.000Z' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(reply);
    });
  });
  await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
  const controlUrl = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
  const handle = loginRouteHandler({ credentials, deviceKeys: new FileDeviceKeyStore(path.join(dir, 'state')), controlUrl, agentVersion: '0.1.0', logger: silentLogger() });
  socketPath = path.join(dir, 'heimdall.sock');
  api = new LocalApi({
    socketPath,
    logger: silentLogger(),
    resolveCaller: platformCallerResolver(),
    routes: [
      {
        method: 'POST',
        path: '/v1/login',
        permission: { access: 'write', scope: 'own' },
        handle: (req) => {
          loginCalls++;
          return handle(req);
        },
      },
    ],
  });
  await api.listen();
});

afterAll(async () => {
  await api.close();
  gateway.closeAllConnections();
  await new Promise<void>((r) => gateway.close(() => r()));
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[], options: { stdin?: string; viaPty?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const command = options.viaPty
      ? spawn('python3', [path.join(import.meta.dirname, 'pty-run.py'), process.execPath, CHILD, ...args], { env: { ...process.env, TYPE_SECRET: KEY } })
      : spawn(process.execPath, [CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    command.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    command.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    command.on('error', reject);
    command.on('close', (code) => resolve({ code, stdout, stderr }));
    if (!options.viaPty) {
      // A login refused before it reads the key closes the pipe first; its exit code says how it went.
      command.stdin.on('error', () => undefined);
      command.stdin.end(options.stdin ?? '');
    }
  });
}

describe('heimdall login --virtual-key', () => {
  it('reads the key from a pipe and signs the calling OS user in through the daemon', async () => {
    const before = enrollBodies.length;
    const r = await run(['login', '--virtual-key', '--socket', socketPath], { stdin: `${KEY}\n` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Signed in as dana@example.com (OS user ${whoami})`);
    expect(r.stdout + r.stderr).not.toContain(KEY);
    expect(enrollBodies.slice(before)).toEqual([expect.objectContaining({ virtual_key: KEY, os_user: whoami })]);
    expect(credentials.virtualKeyFor(whoami)).toBe(KEY);
  });

  it('prompts on a terminal without echoing what is typed', async () => {
    const before = enrollBodies.length;
    const r = await run(['login', '--virtual-key', '--socket', socketPath], { viaPty: true });
    expect(r.stdout).toContain('Virtual key (input hidden): ');
    expect(r.stdout).toContain('Signed in as dana@example.com');
    expect(r.stdout).not.toContain(KEY);
    expect(r.stdout).not.toContain(KEY.slice(6, 14));
    expect(r.code).toBe(0);
    expect(enrollBodies.slice(before).map((b) => b.virtual_key)).toEqual([KEY]);
  });

  it('refuses a key given on the command line without sending it anywhere', async () => {
    const calls = loginCalls;
    const r = await run(['login', '--virtual-key', KEY, '--socket', socketPath]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing a key given on the command line/);
    expect(r.stderr).toMatch(/rotating/);
    expect(r.stderr).not.toContain(KEY);
    expect(loginCalls).toBe(calls);
  });

  it('says what to do when the key is missing, malformed, or the flag is absent', async () => {
    const calls = loginCalls;
    const empty = await run(['login', '--virtual-key', '--socket', socketPath], { stdin: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no virtual key given/);
    expect(loginCalls).toBe(calls);

    // Without the flag, `heimdall login` is single sign-on: it asks the daemon what the gateway
    // offers and never reads (nor sends) a key from stdin. This stand-in daemon has no SSO routes.
    const noFlag = await run(['login', '--socket', socketPath], { stdin: KEY });
    expect(noFlag.code).toBe(1);
    expect(noFlag.stderr).toMatch(/^heimdall login: no local API route GET \/v1\/login\/options/);
    expect(loginCalls).toBe(calls);

    const wrong = await run(['login', '--virtual-key', '--socket', socketPath], { stdin: 'sk-proj-not-a-virtual-key-123456' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/not a virtual key/);
    expect(wrong.stderr).not.toContain('sk-proj-not-a-virtual-key-123456');
  });

  it('exits 3 with a clear message when the daemon is not running', async () => {
    const r = await run(['login', '--virtual-key', '--socket', path.join(dir, 'nobody.sock')], { stdin: KEY });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/daemon is not running/);
    expect(r.stderr).not.toContain(KEY);
  });
});
