// The real Claude Code, Codex and Gemini CLIs (npm devDependencies) run through `heimdall exec`
// against the real daemon and gateway, with dummy provider keys and a throwaway HOME each: they
// print the DEMO upstream's answer, the daemon names each app, and the gateway audits the call.
//
// What these apps also do, offline (see /work/shared/reference/ai-app-traffic.md):
// - Claude Code calls /api/claude_code/{settings,policy_limits} on api.anthropic.com. Those paths
//   go to the real origin, which is unreachable here: the daemon answers each at once with a 502
//   in Anthropic's error shape, and Claude Code retries them with backoff (about 18 s in all)
//   before it sends /v1/messages. Slow, but not a hang, and it then completes.
// - Codex asks chatgpt.com /backend-api/codex/models (origin, 502 here) and retries a few seconds.
// - Gemini CLI with its default "auto" model first asks a classifier for JSON; the DEMO upstream
//   answers prose, and Gemini retries for about 100 s before falling back. `-m demo-gemini` skips
//   the classifier (a DEMO upstream limitation, not Heimdall's).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CLI_BIN, demoAnswer, E2e, pollUntil, type GatewayEvent, type SystemUnderTest } from './harness.ts';

const CLI_TIMEOUT_MS = 90_000;
const has = (name: string): boolean => fs.existsSync(CLI_BIN(name));

const e2e = new E2e();
let sut: SystemUnderTest;

beforeAll(async () => {
  sut = await e2e.system();
}, 60_000);
afterAll(() => e2e.cleanup());

/** A throwaway HOME for one CLI: nothing from the machine's own configuration leaks in. */
function cliHome(name: string): string {
  return e2e.dir(`home-${name}`);
}

/** Waits for events of one app at the gateway until `pick` finds what the test needs. */
async function eventsOf<T>(app: string, pick: (events: GatewayEvent[]) => T | undefined): Promise<T> {
  const { value } = await pollUntil(`gateway events of ${app}`, async () => pick((await sut.gateway.deviceEvents(sut.deviceId, 200)).filter((e) => e.app === app)), {
    deadlineMs: 10_000,
    intervalMs: 200,
  });
  return value;
}

// The three CLIs mostly wait (on retries of unreachable origins), so they run side by side.
describe.concurrent('real AI CLIs through `heimdall exec`', () => {
  it.skipIf(!has('claude'))('Claude Code prints the DEMO answer; its origin-only calls fail fast with a 502', async ({ expect }) => {
    const home = cliHome('claude');
    const r = await sut.agent.exec(CLI_BIN('claude'), ['-p', 'say hi through heimdall'], {
      cwd: home,
      env: { HOME: home, TERM: 'dumb', ANTHROPIC_API_KEY: 'dummy', DISABLE_TELEMETRY: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Hello from the Heimdall demo upstream \(model [^)]+\): say hi through heimdall/);

    const { inference, origin } = await eventsOf('claude-code', (events) => {
      const inference = events.find((e) => e.source === 'gateway' && e.attrs['endpoint'] === 'anthropic.messages' && e.attrs['status'] === 200);
      const origin = events.filter((e) => e.source === 'agent' && e.attrs['route'] === 'anthropic-claude-code');
      return inference ? { inference, origin } : undefined;
    });
    expect(inference.attrs).toMatchObject({ provider: 'anthropic', user_email: 'alice@acme.example' });
    // The settings calls reached the origin route (not the gateway) and were answered, each well
    // before the forwarder's 10 s connect timeout: a failure at once, never a hang.
    expect(origin.length).toBeGreaterThan(0);
    for (const e of origin) {
      expect(e.attrs['status_code']).toBe(502);
      expect(e.attrs['latency_ms']).toBeLessThan(10_000);
    }
  }, CLI_TIMEOUT_MS + 10_000);

  it.skipIf(!has('codex'))('Codex completes a turn over the Responses websocket', async ({ expect }) => {
    const home = cliHome('codex');
    fs.mkdirSync(path.join(home, '.codex'));
    const r = await sut.agent.exec(CLI_BIN('codex'), ['exec', '--skip-git-repo-check', 'say hi through heimdall'], {
      cwd: home,
      env: { HOME: home, CODEX_HOME: path.join(home, '.codex'), TERM: 'dumb', CODEX_API_KEY: 'dummy' },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Hello from the Heimdall demo upstream \(model [^)]+\): say hi through heimdall/);

    const ws = await eventsOf('codex-cli', (events) => events.find((e) => e.source === 'gateway' && e.attrs['endpoint'] === 'openai.responses.websocket'));
    expect(ws.attrs).toMatchObject({ status: 101, transport: 'websocket', user_email: 'alice@acme.example' });
    expect(sut.demo.received.some((q) => q.transport === 'websocket' && q.path === '/v1/responses' && q.headers['authorization'] === 'Bearer demo-openai-key')).toBe(true);
  }, CLI_TIMEOUT_MS + 10_000);

  it.skipIf(!has('gemini'))('Gemini CLI prints the DEMO answer over the genai route', async ({ expect }) => {
    const home = cliHome('gemini');
    const r = await sut.agent.exec(CLI_BIN('gemini'), ['-m', 'demo-gemini', '-p', 'say hi through heimdall'], {
      cwd: home,
      env: { HOME: home, TERM: 'dumb', GEMINI_API_KEY: 'dummy', GEMINI_CLI_TRUST_WORKSPACE: 'true' },
      timeoutMs: CLI_TIMEOUT_MS,
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(demoAnswer('demo-gemini', 'say hi through heimdall'));

    const stream = await eventsOf('gemini-cli', (events) => events.find((e) => e.source === 'gateway' && e.attrs['endpoint'] === 'genai.stream_generate_content'));
    expect(stream.attrs).toMatchObject({ model: 'demo-gemini', status: 200, user_email: 'alice@acme.example' });
    expect(sut.demo.received.some((q) => q.provider === 'genai' && q.headers['x-goog-api-key'] === 'demo-genai-key')).toBe(true);
  }, CLI_TIMEOUT_MS + 10_000);
});
