// Enrollment against a real HTTP server on loopback that checks what arrives; credentials in a real
// store file; the virtual key and the device token never appear in logs or error messages.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  AUTH_MIGRATIONS,
  Credentials,
  FileDeviceKeyStore,
  LoginError,
  collectDeviceFacts,
  controlEndpoint,
  enroll,
  login,
  loginRouteHandler,
  parseOsRelease,
  parseMacSystemVersion,
} from '../../agent/src/auth/index.ts';
import { createLogger, type Logger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { CHALLENGE_PATH, ENROLL_PATH, deviceProofText, enrollRequestSchema, verifyDeviceProof } from '../../protocol/index.ts';
import { throwawayVault } from '../helpers/vault.ts';
import type { TokenVault } from '../../agent/src/auth/index.ts';

const KEY = 'sk-bf-Zq3xK9mW2pL7vN4tR8yB1cD6fG0hJ5sA';
const TOKEN = 'hdt_secret-device-token-abcdefghijklmnop';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

let server: Server;
let base: string;
let handler: Handler;
const hits: { method: string; url: string; headers: IncomingMessage['headers']; body: string }[] = [];
const CHALLENGE = 'c1.4102444800000.test-challenge-0123.mac';
// The device key every login here uses: the root-only file store in a temporary state directory.
const keyDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-auth-key-'));
const deviceKeys = new FileDeviceKeyStore(keyDir);

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      // Every enrollment starts with a challenge; the tests look at what comes after it.
      if (req.url === CHALLENGE_PATH) return json(res, 200, { challenge: CHALLENGE, expires_at: '2100-01-01T00:00:00.000Z' });
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  rmSync(keyDir, { recursive: true, force: true });
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  hits.length = 0;
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function capture(): { logger: Logger; text: () => string } {
  let text = '';
  const logger = createLogger({
    level: 'trace',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        text += chunk.toString();
        cb();
      },
    }),
  });
  return { logger, text: () => text };
}

const vaults = new Map<string, TokenVault>();
function openCredentials(dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-auth-'))) {
  if (!dirs.includes(dir)) dirs.push(dir);
  const store = new Store({ stateDir: path.join(dir, 'state'), logger: capture().logger, migrations: [AUTH_MIGRATIONS] });
  stores.push(store);
  // One vault key per state directory, as the daemon's key file: a reopened store opens its keys.
  const vault = vaults.get(dir) ?? throwawayVault();
  vaults.set(dir, vault);
  return { store, credentials: new Credentials(store.db, vault), dir };
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const facts = (deviceId: string) => collectDeviceFacts({ deviceId, agentVersion: '0.1.0' });

function acceptingGateway(deviceIdFromRequest = true): Handler {
  return (_req, body, res) => {
    const request = JSON.parse(body) as { device: { device_id: string } };
    json(res, 200, {
      device_token: TOKEN,
      device_id: deviceIdFromRequest ? request.device.device_id : 'someone-else',
      user: { id: 'usr_1', email: 'alice@example.com' },
      control_url: `${base.replace('http', 'ws')}/edge/v1/connect`,
      token_expires_at: '2100-01-01T00:00:00.000Z',
    });
  };
}

async function loginError(p: Promise<unknown>): Promise<LoginError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof LoginError) return err;
    throw err;
  }
  throw new Error('expected a LoginError');
}

describe('enrollment', () => {
  it('posts the key, the device facts and the OS user in the protocol shape, and stores token and key', async () => {
    handler = acceptingGateway();
    const { credentials, store, dir } = openCredentials();
    const { logger, text } = capture();
    const result = await login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger }, { osUser: 'alice', virtualKey: `  ${KEY}\n` });

    expect(hits).toHaveLength(1);
    const hit = hits[0]!;
    expect(hit.method).toBe('POST');
    expect(hit.url).toBe(ENROLL_PATH);
    expect(hit.headers['content-type']).toBe('application/json');
    const body = JSON.parse(hit.body);
    expect(enrollRequestSchema.safeParse(body).success).toBe(true);
    expect(body).toEqual({
      virtual_key: KEY,
      device: {
        device_id: credentials.deviceId(),
        hostname: os.hostname(),
        os: 'linux',
        os_version: expect.stringContaining('kernel') as string,
        arch: process.arch,
        agent_version: '0.1.0',
      },
      os_user: 'alice',
      device_key: { public_key: (await deviceKeys.loadOrCreate()).publicKey, challenge: CHALLENGE, signature: expect.any(String) as string },
    });
    // The signature is the device key's, over this challenge and this device id, for enrollment only.
    expect(verifyDeviceProof(body.device_key.public_key, deviceProofText('enroll', CHALLENGE, credentials.deviceId()), body.device_key.signature)).toBe(true);
    expect(verifyDeviceProof(body.device_key.public_key, deviceProofText('token', CHALLENGE, credentials.deviceId()), body.device_key.signature)).toBe(false);

    expect(result).toEqual({ osUser: 'alice', deviceId: credentials.deviceId(), user: { id: 'usr_1', email: 'alice@example.com' } });
    expect(credentials.enrollment()).toMatchObject({ deviceToken: TOKEN, controlUrl: base, connectUrl: `${base.replace('http', 'ws')}/edge/v1/connect` });
    expect(credentials.virtualKeyFor('alice')).toBe(KEY);
    expect(credentials.virtualKeyFor('bob')).toBeUndefined();
    // Keys are remembered between requests; a sign-in and a sign-out are seen at once.
    credentials.saveEnrollment({ osUser: 'bob', virtualKey: 'sk-bf-bob', deviceToken: TOKEN, controlUrl: base });
    expect(credentials.virtualKeyFor('bob')).toBe('sk-bf-bob');
    expect(credentials.signOut('bob')).toBe(true);
    expect(credentials.virtualKeyFor('bob')).toBeUndefined();
    expect(credentials.signedInUsers()).toEqual([{ osUser: 'alice', userId: 'usr_1', email: 'alice@example.com', signedInAt: expect.any(String) as string }]);

    // Secrets rest only in the store: a 0600 file in a 0700 directory.
    expect(statSync(store.file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(store.file)).mode & 0o777).toBe(0o700);
    // And never in the log.
    expect(text()).toContain('device enrolled');
    expect(text()).not.toContain(KEY);
    expect(text()).not.toContain(TOKEN);
    void dir;
  });

  it('creates the device id once and keeps it across reopen and re-enrollment', async () => {
    handler = acceptingGateway();
    const first = openCredentials();
    const id = first.credentials.deviceId();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await login({ credentials: first.credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY });
    first.store.close();
    stores.splice(stores.indexOf(first.store), 1);
    const again = openCredentials(first.dir);
    expect(again.credentials.deviceId()).toBe(id);
    expect(again.credentials.enrollment()?.deviceToken).toBe(TOKEN);
    await login({ credentials: again.credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'bob', virtualKey: KEY });
    expect(JSON.parse(hits[1]!.body).device.device_id).toBe(id);
    expect(again.credentials.signedInUsers().map((u) => u.osUser)).toEqual(['alice', 'bob']);
  });

  it.each([
    ['a provider key', 'sk-proj-abcdefghijklmnop1234'],
    ['an Anthropic key', 'sk-ant-api03-abcdefghijklmnop'],
    ['a truncated key', 'sk-bf-abc'],
    ['a key with spaces inside', 'sk-bf-abcd efgh ijkl'],
    ['nothing', '   '],
  ])('refuses %s before sending anything, without echoing it', async (_name, input) => {
    handler = acceptingGateway();
    const { credentials } = openCredentials();
    const err = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: input }));
    expect(err.code).toBe('invalid_key_format');
    if (input.trim() !== '') expect(err.message).not.toContain(input.trim());
    expect(hits).toHaveLength(0);
    expect(credentials.enrollment()).toBeUndefined();
  });

  it('names the HTTP status and the gateway error code, never the key, when the gateway refuses', async () => {
    // A careless gateway that echoes the key in its message: the agent must not repeat it.
    handler = (_req, _body, res) => json(res, 401, { error: { code: 'unauthorized', message: `unknown virtual key ${KEY}` } });
    const { credentials } = openCredentials();
    const { logger, text } = capture();
    const err = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(err.code).toBe('rejected');
    expect(err.status).toBe(401);
    expect(err.gatewayCode).toBe('unauthorized');
    expect(err.message).toContain('HTTP 401');
    expect(err.message).toContain('(unauthorized)');
    expect(err.message).not.toContain(KEY);
    expect(JSON.stringify(err)).not.toContain(KEY);
    expect(String(err.stack)).not.toContain(KEY);
    expect(text()).not.toContain(KEY);
    expect(credentials.enrollment()).toBeUndefined();
  });

  it('reports other failures by status and a safe code only (free-text codes are dropped)', async () => {
    handler = (_req, _body, res) => json(res, 500, { error: { code: `boom ${KEY}`, message: KEY } });
    const { credentials } = openCredentials();
    const err = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(err.code).toBe('gateway_error');
    expect(err.message).toBe(`enrollment at ${base}${ENROLL_PATH} failed: HTTP 500`);
    expect(err.gatewayCode).toBeUndefined();
  });

  it('does not follow a redirect with the key in the body', async () => {
    let elsewhere = 0;
    const other = createServer((_req, res) => {
      elsewhere++;
      res.end('{}');
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    try {
      handler = (_req, _body, res) => {
        res.writeHead(307, { location: `http://127.0.0.1:${(other.address() as { port: number }).port}${ENROLL_PATH}` });
        res.end();
      };
      const { credentials } = openCredentials();
      const err = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
      expect(err.code).toBe('gateway_error');
      expect(err.message).toMatch(/redirected \(HTTP 307\)/);
      expect(elsewhere).toBe(0);
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('refuses a reply that is not an enrollment answer, or that names another device', async () => {
    const { credentials } = openCredentials();
    handler = (_req, _body, res) => json(res, 200, { device_token: 42 });
    const bad = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(bad.code).toBe('bad_response');
    expect(bad.message).toContain('device_token');

    handler = acceptingGateway(false);
    const other = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(other.code).toBe('bad_response');
    expect(other.message).not.toContain(TOKEN);
    expect(credentials.enrollment()).toBeUndefined();
  });

  it('fails as unreachable on a closed port and on a gateway that never answers', async () => {
    const { credentials } = openCredentials();
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await loginError(login({ credentials, deviceKeys, controlUrl: `http://127.0.0.1:${port}`, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(refused.code).toBe('unreachable');
    expect(refused.message).toContain('ECONNREFUSED');

    handler = () => undefined; // tar pit: never answers
    const slow = await loginError(login({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger, timeoutMs: 300 }, { osUser: 'alice', virtualKey: KEY }));
    expect(slow.code).toBe('unreachable');
    expect(slow.message).toMatch(/no answer in time/);
  });

  it('will not send a key over plain http to a host other than loopback, and needs a control_url', async () => {
    const { credentials } = openCredentials();
    const insecure = await loginError(login({ credentials, deviceKeys, controlUrl: 'http://gateway.example.com', agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(insecure.code).toBe('invalid_control_url');
    expect(insecure.message).toMatch(/use https/);
    const missing = await loginError(login({ credentials, deviceKeys, controlUrl: undefined, agentVersion: '0.1.0', logger: capture().logger }, { osUser: 'alice', virtualKey: KEY }));
    expect(missing.code).toBe('invalid_control_url');
    expect(hits).toHaveLength(0);
  });

  it('keeps a path prefix of control_url and maps to ws/wss for the sync channel', () => {
    expect(controlEndpoint('https://corp.example/ai/', ENROLL_PATH).href).toBe('https://corp.example/ai/edge/v1/enroll');
    expect(controlEndpoint('https://corp.example', '/edge/v1/connect', { websocket: true }).href).toBe('wss://corp.example/edge/v1/connect');
    expect(controlEndpoint('http://127.0.0.1:8080', '/edge/v1/connect', { websocket: true }).href).toBe('ws://127.0.0.1:8080/edge/v1/connect');
    expect(controlEndpoint('http://[::1]:8080', '/x').href).toBe('http://[::1]:8080/x');
    expect(() => controlEndpoint('https://user:pw@corp.example', '/x')).toThrow(/user name or password/);
    expect(() => controlEndpoint('ftp://corp.example', '/x')).toThrow(/https/);
    expect(controlEndpoint('http://10.0.0.5', '/x', { allowInsecure: true }).href).toBe('http://10.0.0.5/x');
  });

  it('enroll() can be called on its own with explicit facts', async () => {
    handler = acceptingGateway();
    const r = await enroll({ controlUrl: base, virtualKey: KEY, device: facts('dev-123'), deviceKey: await deviceKeys.loadOrCreate(), osUser: 'carol', logger: capture().logger });
    expect(r).toMatchObject({ deviceToken: TOKEN, deviceId: 'dev-123', user: { email: 'alice@example.com' } });
  });
});

describe('credentials', () => {
  it('forgets a revoked token only if no login replaced it meanwhile', () => {
    const { credentials } = openCredentials();
    credentials.saveEnrollment({ deviceToken: 'hdt_old-token-000000000000', controlUrl: base, osUser: 'alice', virtualKey: KEY });
    credentials.saveEnrollment({ deviceToken: 'hdt_new-token-000000000000', controlUrl: base, osUser: 'alice', virtualKey: KEY });
    credentials.markRevoked('hdt_old-token-000000000000'); // a late 4401 on the old connection
    expect(credentials.enrollment()?.deviceToken).toBe('hdt_new-token-000000000000');
    expect(credentials.revokedAt()).toBeUndefined();
    credentials.markRevoked('hdt_new-token-000000000000');
    expect(credentials.enrollment()).toBeUndefined();
    expect(credentials.revokedAt()).toEqual(expect.any(String));
    expect(credentials.virtualKeyFor('alice')).toBe(KEY); // keys stay for the next enrollment
    expect(credentials.signOut('alice')).toBe(true);
    expect(credentials.virtualKeyFor('alice')).toBeUndefined();
  });

  it('answers the enrollment from memory between writes, and every write shows at once', () => {
    const { store, credentials } = openCredentials();
    expect(credentials.enrollment()).toBeUndefined();
    credentials.saveEnrollment({ deviceToken: 'hdt_first-token-00000000000', tokenExpiresAt: '2100-01-01T00:00:00.000Z', controlUrl: base, osUser: 'alice', virtualKey: KEY });
    const deviceId = credentials.enrollment()?.deviceId;
    // The row is read once and kept: a change behind the class's back (nothing in the product makes
    // one) is not seen until the class itself writes.
    store.db.prepare("UPDATE auth_device SET device_token = 'hdt_behind-its-back-000000' WHERE singleton = 1").run();
    expect(credentials.enrollment()?.deviceToken).toBe('hdt_first-token-00000000000');
    credentials.saveDeviceToken('hdt_renewed-token-000000000', '2100-02-01T00:00:00.000Z');
    expect(credentials.enrollment()).toMatchObject({ deviceId, deviceToken: 'hdt_renewed-token-000000000', tokenExpiresAt: '2100-02-01T00:00:00.000Z' });
    credentials.saveDeviceEnrollment({ deviceToken: 'hdt_sso-token-0000000000000', tokenExpiresAt: '2100-03-01T00:00:00.000Z', controlUrl: `${base}/sso`, connectUrl: undefined });
    expect(credentials.enrollment()).toMatchObject({ deviceToken: 'hdt_sso-token-0000000000000', controlUrl: `${base}/sso` });
    credentials.markRevoked();
    expect(credentials.enrollment()).toBeUndefined();
    expect(credentials.revokedAt()).toEqual(expect.any(String));
    expect(credentials.deviceId()).toBe(deviceId);
  });

  it('reads the row again after a write that failed half-way', () => {
    const { store, credentials } = openCredentials();
    credentials.saveEnrollment({ deviceToken: 'hdt_first-token-00000000000', controlUrl: base, osUser: 'alice', virtualKey: KEY });
    expect(credentials.enrollment()?.deviceToken).toBe('hdt_first-token-00000000000');
    // The users' table refuses the second statement: the transaction rolls back its device update too.
    store.db.exec("CREATE TRIGGER refuse_user BEFORE UPDATE ON auth_users BEGIN SELECT RAISE(ABORT, 'refused'); END");
    expect(() => credentials.saveEnrollment({ deviceToken: 'hdt_never-stored-0000000000', controlUrl: base, osUser: 'alice', virtualKey: KEY })).toThrow(/refused/);
    expect(credentials.enrollment()?.deviceToken).toBe('hdt_first-token-00000000000');
  });
});

describe('the local API login handler', () => {
  it('takes the OS user from the identified caller, never from the body, and maps errors to statuses', async () => {
    handler = acceptingGateway();
    const { credentials } = openCredentials();
    let woke = 0;
    const handle = loginRouteHandler({ credentials, deviceKeys, controlUrl: base, agentVersion: '0.1.0', logger: capture().logger }, () => woke++);
    const ok = await handle({ caller: { uid: 1000, user: 'alice' }, body: { virtual_key: KEY, os_user: 'root' } });
    expect(ok).toEqual({ status: 200, body: { os_user: 'alice', device_id: credentials.deviceId(), user: { id: 'usr_1', email: 'alice@example.com' } } });
    expect(JSON.parse(hits[0]!.body).os_user).toBe('alice');
    expect(credentials.virtualKeyFor('root')).toBeUndefined();
    expect(woke).toBe(1);

    const badKey = await handle({ caller: { uid: 1000, user: 'alice' }, body: { virtual_key: 'sk-live-nope-1234567890' } });
    expect(badKey.status).toBe(400);
    expect(badKey.body).toMatchObject({ code: 'invalid_key_format' });
    const noBody = await handle({ caller: { uid: 1000 }, body: undefined });
    expect(noBody.status).toBe(400);
    const anonymous = await handle({ caller: undefined, body: { virtual_key: KEY } });
    expect(anonymous.status).toBe(403);

    handler = (_req, _body, res) => json(res, 403, { error: { code: 'revoked', message: 'device revoked' } });
    const revoked = await handle({ caller: { uid: 1001 }, body: { virtual_key: KEY } });
    expect(revoked.status).toBe(403);
    expect(revoked.body).toMatchObject({ code: 'rejected' });
    expect(JSON.parse(hits.at(-1)!.body).os_user).toBe('uid:1001');
    expect(JSON.stringify(revoked.body)).not.toContain(KEY);
  });
});

describe('device facts', () => {
  it('reads the distribution and macOS version from their files', () => {
    expect(parseOsRelease('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n')).toBe('Debian GNU/Linux 12 (bookworm)');
    expect(parseOsRelease('ID=alpine\n')).toBeUndefined();
    expect(parseMacSystemVersion('<dict><key>ProductName</key><string>macOS</string><key>ProductVersion</key>\n\t<string>14.4.1</string></dict>')).toBe('14.4.1');
  });
});
