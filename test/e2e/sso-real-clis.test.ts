// The real Claude Code, Codex and Gemini CLIs (npm devDependencies) through `heimdall exec` under an
// OS user signed in with SSO (no virtual key anywhere on the device): each prints the DEMO
// upstream's answer, and the gateway records each call as the signed-in person.
/* eslint-disable @typescript-eslint/no-explicit-any */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { DEFAULT_IDP_USERS, signInWithPassword, TestIdp } from '../helpers/oidc-idp.ts';
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT, startSsoGateway, type SsoGateway } from '../gateway-sso/sso-helpers.ts';
import { callLocalApi } from '../../agent/src/localapi/index.ts';
import { CLI_BIN, demoAnswer, E2e, pollUntil, type AgentProcess, type GatewayProcess } from './harness.ts';

const CLI_TIMEOUT_MS = 90_000;
const has = (name: string): boolean => fs.existsSync(CLI_BIN(name));
const KEYS = { openai: 'demo-openai-key', anthropic: 'demo-anthropic-key', genai: 'demo-genai-key' };

const e2e = new E2e();
const idp = new TestIdp({ users: DEFAULT_IDP_USERS, clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_CLIENT_SECRET, redirectUris: [IDP_REDIRECT], applicationType: 'native' }] });
let upstream: DemoUpstream;
let sso: SsoGateway;
let agent: AgentProcess;
let deviceId: string;

beforeAll(async () => {
  await idp.start();
  upstream = await startDemoUpstream({ keys: KEYS, chunkDelayMs: 5 });
  const provider = (env: string) => ({ base_url: upstream.url, api_key: `env.${env}` });
  sso = await startSsoGateway(idp, { allow: { email_domains: ['example.com'] }, unattributed: 'block' }, {
    config: { inference: { providers: { openai: provider('DEMO_OPENAI_KEY'), anthropic: provider('DEMO_ANTHROPIC_KEY'), genai: provider('DEMO_GENAI_KEY'), chatgpt: { base_url: upstream.url } } } },
    env: { DEMO_OPENAI_KEY: KEYS.openai, DEMO_ANTHROPIC_KEY: KEYS.anthropic, DEMO_GENAI_KEY: KEYS.genai },
  });
  agent = await e2e.agent(sso.gw as unknown as GatewayProcess);
  // Sign in as this OS user through the daemon's routes, the way `heimdall login` does (the browser
  // session walked with fetch; test/e2e/sso-login.test.ts drives it with Chromium).
  const redirect = 'http://127.0.0.1:9/callback';
  const start = await callLocalApi<any>(agent.socketPath, 'POST', '/v1/login/sso/start', { redirect_uri: redirect });
  if (start.status !== 200) throw new Error(JSON.stringify(start.body));
  const back = await signInWithPassword(start.body.authorize_url, { username: 'alice', password: 'alice-Pa55word' }, { follow: [sso.gw.url, idp.issuer] });
  const code = back.redirect?.searchParams.get('code');
  if (!code) throw new Error(`no code came back: ${back.body.slice(0, 300)}`);
  const done = await callLocalApi<any>(agent.socketPath, 'POST', '/v1/login/sso/finish', { state: start.body.state, code }, 30_000);
  if (done.status !== 200) throw new Error(JSON.stringify(done.body));
  deviceId = done.body.device_id;
}, 120_000);

afterAll(async () => {
  await e2e.cleanup();
  await sso?.stop();
  await upstream?.close();
  await idp.stop();
});

async function gatewayEvent(what: string): Promise<unknown> {
  const { value } = await pollUntil<unknown>(
    `gateway inference event ${what}`,
    async () => ((await sso.gw.admin('GET', `events?type=inference&device=${deviceId}&limit=100`)).body.events as unknown[]).find((e) => JSON.stringify(e).includes(what)),
    { deadlineMs: 10_000, intervalMs: 200 },
  );
  return value;
}

describe.concurrent('real AI CLIs under an SSO-signed-in user', () => {
  it.skipIf(!has('claude'))('Claude Code prints the DEMO answer, recorded as alice', async ({ expect }) => {
    const home = e2e.dir('home-claude');
    const r = await agent.exec(CLI_BIN('claude'), ['-p', 'say hi through heimdall sso'], {
      cwd: home,
      env: { HOME: home, TERM: 'dumb', ANTHROPIC_API_KEY: 'dummy', DISABLE_TELEMETRY: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Hello from the Heimdall demo upstream \(model [^)]+\): say hi through heimdall sso/);
    expect(JSON.stringify(await gatewayEvent('anthropic.messages'))).toContain('alice@example.com');
  }, CLI_TIMEOUT_MS + 10_000);

  it.skipIf(!has('codex'))('Codex completes a turn over the Responses websocket, recorded as alice', async ({ expect }) => {
    const home = e2e.dir('home-codex');
    fs.mkdirSync(path.join(home, '.codex'));
    const r = await agent.exec(CLI_BIN('codex'), ['exec', '--skip-git-repo-check', 'say hi through heimdall sso'], {
      cwd: home,
      env: { HOME: home, CODEX_HOME: path.join(home, '.codex'), TERM: 'dumb', CODEX_API_KEY: 'dummy' },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Hello from the Heimdall demo upstream \(model [^)]+\): say hi through heimdall sso/);
    expect(JSON.stringify(await gatewayEvent('openai.responses'))).toContain('alice@example.com');
  }, CLI_TIMEOUT_MS + 10_000);

  it.skipIf(!has('gemini'))('Gemini CLI prints the DEMO answer, recorded as alice', async ({ expect }) => {
    const home = e2e.dir('home-gemini');
    const r = await agent.exec(CLI_BIN('gemini'), ['-m', 'demo-gemini', '-p', 'say hi through heimdall sso'], {
      cwd: home,
      env: { HOME: home, TERM: 'dumb', GEMINI_API_KEY: 'dummy', GEMINI_CLI_TRUST_WORKSPACE: 'true' },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(demoAnswer('demo-gemini', 'say hi through heimdall sso'));
    expect(JSON.stringify(await gatewayEvent('genai.stream_generate_content'))).toContain('alice@example.com');
  }, CLI_TIMEOUT_MS + 10_000);
});
