// SSO sign-in end to end (issue 18): a real OpenID Provider (oidc-provider), a real
// `heimdall-gateway run` federating to it, a real daemon (`heimdall run`), `heimdall login` whose
// $BROWSER is headless Chromium typing the person's password into the IdP's page, a device-code
// sign-in completed by a second process, and a second OS user (useradd) signed in as another person
// through the same proxy. Each person's requests must arrive at the gateway as that person; one OS
// user must never finish, read or use another's sign-in; no token may rest anywhere readable.
/* eslint-disable @typescript-eslint/no-explicit-any */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { DEFAULT_IDP_USERS, signInWithPassword, TestIdp } from '../helpers/oidc-idp.ts';
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT, startSsoGateway, type SsoGateway } from '../gateway-sso/sso-helpers.ts';
import { runToEnd } from '../helpers/process.ts';
import { BASE_PATH, chatBody, E2e, pollUntil, type AgentProcess, type GatewayProcess } from './harness.ts';

const isRoot = process.getuid?.() === 0;
const canRun = process.platform === 'linux' && isRoot && existsSync('/usr/bin/chromium');
const PROVIDER_KEY = 'demo-openai-key';
const ALICE = { username: 'alice', password: 'alice-Pa55word' };
const BOB = { username: 'bob', password: 'bob-Pa55word' };
const DRIVER = path.join(import.meta.dirname, 'sso-browser-driver.ts');
// The gateway's user access tokens are EdDSA JWTs: their header starts with this in base64url.
const JWT_HEADER = 'eyJhbGciOiJFZERTQSI';

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

const e2e = new E2e();
const idp = new TestIdp({ users: DEFAULT_IDP_USERS, clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_CLIENT_SECRET, redirectUris: [IDP_REDIRECT], applicationType: 'native' }] });
let upstream: DemoUpstream;
let sso: SsoGateway;
let agent: AgentProcess;
let userB: OsUser;
let proxyEnv: Record<string, string>;

function createUser(prefix: string): OsUser {
  const name = `${prefix}${process.pid % 100000}`;
  execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
  return { name, uid: Number(execFileSync('id', ['-u', name], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', name], { encoding: 'utf8' })) };
}

/** A local API call with curl as `user` (root when undefined): the kernel says who is calling. */
async function local(user: OsUser | undefined, method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
  const args = ['-s', '-w', '\n%{http_code}', '-X', method, '--unix-socket', agent.socketPath, ...(body !== undefined ? ['-H', 'content-type: application/json', '-d', JSON.stringify(body)] : []), `http://heimdall${route}`];
  const r = user ? await runToEnd('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'curl', ...args]) : await runToEnd('curl', args);
  const at = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, at);
  return { status: Number(r.stdout.slice(at + 1)), body: text ? JSON.parse(text) : undefined };
}

/** A chat completion through the proxy as `user` (curl is the app); the gateway's answer. */
async function chatAs(user: OsUser | undefined, prompt: string): Promise<{ status: number; body: any }> {
  const args = ['-s', '-w', '\n%{http_code}', '--proxy', proxyEnv['HTTPS_PROXY']!, '--cacert', proxyEnv['SSL_CERT_FILE']!, 'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-d', chatBody(prompt)];
  const r = user ? await runToEnd('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', 'curl', ...args]) : await runToEnd('curl', args);
  const at = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(at + 1)), body: JSON.parse(r.stdout.slice(0, at) || 'null') };
}

/** The newest inference events at the gateway, once there are more than `before`. */
async function inferenceEvents(before: number): Promise<any[]> {
  const { value } = await pollUntil(
    'a new gateway inference event',
    async () => {
      const events = (await sso.gw.admin('GET', 'events?type=inference&limit=50')).body.events as any[];
      return events.length > before ? events : undefined;
    },
    { deadlineMs: 15_000 },
  );
  return value;
}

async function inferenceCount(): Promise<number> {
  return ((await sso.gw.admin('GET', 'events?type=inference&limit=50')).body.events as any[]).length;
}

beforeAll(async () => {
  if (!canRun) return;
  userB = createUser('hsb');
  await idp.start();
  upstream = await startDemoUpstream({ keys: { openai: [PROVIDER_KEY] }, chunkDelayMs: 0 });
  sso = await startSsoGateway(idp, { allow: { email_domains: ['example.com'] }, unattributed: 'block' }, {
    config: { inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.DEMO_OPENAI_KEY' } } } },
    env: { DEMO_OPENAI_KEY: PROVIDER_KEY },
  });
  agent = await e2e.agent(sso.gw as unknown as GatewayProcess);
  // The development state dir is root's alone; let the second user reach the socket and the CA bundle.
  chmodSync(agent.stateDir, 0o711);
  chmodSync(path.dirname(agent.stateDir), 0o711);
  proxyEnv = await agent.proxyEnv();
}, 120_000);

afterAll(async () => {
  if (!canRun) return;
  await e2e.cleanup();
  await sso?.stop();
  await upstream?.close();
  await idp.stop();
  if (userB) execFileSync('userdel', [userB.name]);
});

describe.runIf(canRun)('SSO sign-in through the daemon', { timeout: 180_000 }, () => {
  it('heimdall login: headless Chromium types alice\'s password at the IdP, and the daemon holds her sign-in', async () => {
    const result = path.join(e2e.dir('browser'), 'result.json');
    const r = await agent.cli(['login'], {
      env: { PATH: BASE_PATH, HOME: agent.options.home, BROWSER: `${process.execPath} ${DRIVER} ${result} ${ALICE.username} ${ALICE.password}` },
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Signed in as alice@example\.com \(OS user root\) on device [0-9a-f-]{36}/);
    // The browser shows the CLI's page after the CLI has its answer: wait for the driver's report.
    const page = (await pollUntil('the browser driver\'s report', () => (existsSync(result) ? (JSON.parse(readFileSync(result, 'utf8')) as { title: string; url: string }) : undefined), { deadlineMs: 30_000 })).value;
    expect(page.title, JSON.stringify(page)).toBe('Signed in to Heimdall');
    expect(page.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
    const who = await agent.cli(['whoami', '--json']);
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ os_user: 'root', signed_in: true, method: 'sso', user: { email: 'alice@example.com' }, refresh_error: null });
    // --if-needed does nothing (no browser, no output) when signed in.
    const again = await agent.cli(['login', '--if-needed'], { env: { PATH: BASE_PATH, HOME: agent.options.home, BROWSER: '/bin/false' } });
    expect(again).toMatchObject({ code: 0, stdout: '' });
  });

  it('alice\'s request through the proxy arrives at the gateway as alice', async () => {
    const before = await inferenceCount();
    const answer = await chatAs(undefined, 'hello as alice');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const events = await inferenceEvents(before);
    expect(events[0]).toMatchObject({ user_email: 'alice@example.com' });
  });

  it('a second OS user signs in as bob with a device code completed by another process; A and B cannot touch each other\'s sign-ins', async () => {
    const started = await local(userB, 'POST', '/v1/login/device/start');
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const { login_id: loginId, verification_uri_complete: complete } = started.body;
    // Root's own pending browser sign-in, and B trying to finish it or read B's device sign-in as root's peer.
    const rootStart = await local(undefined, 'POST', '/v1/login/sso/start', { redirect_uri: 'http://127.0.0.1:1/callback' });
    expect(rootStart.status).toBe(200);
    const stolen = await local(userB, 'POST', '/v1/login/sso/finish', { state: rootStart.body.state, code: 'a-code-b-caught-0123456789' });
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toMatch(/no sign-in was started under this state by you/);
    expect((await local(undefined, 'GET', `/v1/login/device/${loginId}`)).status).toBe(404);
    // The second process: a browser session completing the device code as bob.
    const page = await signInWithPassword(complete, BOB, { follow: [sso.gw.url, idp.issuer] });
    expect(page.final.status).toBe(200);
    const done = await pollUntil('bob\'s device sign-in', async () => {
      const r = await local(userB, 'GET', `/v1/login/device/${loginId}`);
      return r.body?.state === 'pending' ? undefined : r;
    }, { deadlineMs: 30_000 });
    expect(done.value.body).toMatchObject({ state: 'done', user: { email: 'bob@example.com' } });
    expect((await local(userB, 'GET', '/v1/whoami')).body).toMatchObject({ os_user: userB.name, signed_in: true, method: 'sso', user: { email: 'bob@example.com' } });
    // Root is still alice.
    expect((await local(undefined, 'GET', '/v1/whoami')).body).toMatchObject({ os_user: 'root', user: { email: 'alice@example.com' } });
  });

  it('two OS users through one proxy arrive at the gateway as two people', async () => {
    let before = await inferenceCount();
    const bob = await chatAs(userB, 'hello as bob');
    expect(bob.status, JSON.stringify(bob.body)).toBe(200);
    const bobEvents = await inferenceEvents(before);
    expect(bobEvents[0]).toMatchObject({ user_email: 'bob@example.com' });
    before = await inferenceCount();
    expect((await chatAs(undefined, 'alice again')).status).toBe(200);
    const aliceEvents = await inferenceEvents(before);
    expect(aliceEvents[0]).toMatchObject({ user_email: 'alice@example.com' });
  });

  it('no token in the store, the logs, status or whoami', async () => {
    const files = readdirSync(agent.stateDir).filter((f) => statSync(path.join(agent.stateDir, f)).isFile());
    for (const f of files) {
      const text = readFileSync(path.join(agent.stateDir, f)).toString('latin1');
      expect(text.includes('hrt_'), f).toBe(false);
      expect(text.includes(JWT_HEADER), f).toBe(false);
    }
    const status = await agent.cli(['status', '--json']);
    const log = `${agent.proc!.lines().join('\n')}\n${agent.proc!.stderr()}`;
    for (const text of [status.stdout, log, JSON.stringify((await local(userB, 'GET', '/v1/whoami')).body)]) {
      expect(text).not.toContain('hrt_');
      expect(text).not.toContain(JWT_HEADER);
    }
  });

  it('logout revokes: bob is signed out, his requests are blocked naming heimdall login', async () => {
    const out = await local(userB, 'POST', '/v1/logout', {});
    expect(out.body).toMatchObject({ os_user: userB.name, signed_out: true, revoked: true });
    const blocked = await chatAs(userB, 'after logout');
    expect(blocked.status).toBe(401);
    expect(JSON.stringify(blocked.body)).toContain('heimdall login');
    // B cannot sign root out.
    expect((await local(userB, 'POST', '/v1/logout', { os_user: 'root' })).status).toBe(403);
  });
});
