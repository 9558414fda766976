// What a person sees when Heimdall says no (issue 19), with the real daemon and gateway: an app on the
// official SDKs (plain and streaming calls) and the real Claude Code CLI, each while pending (under
// pending_action block), denied, and with nobody signed in. Counted, not timed: the proxy's own count
// of blocked requests per app moves by exactly one per call (no retry), the process exits non-zero,
// and the terminal shows the sentence once, with no stack trace and no retry lines.
// `heimdall request-access` then reaches the gateway's approval queue with the reason and the person.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_SIGNED_IN_SENTENCE } from '../../agent/src/forward/index.ts';
import { CLI_BIN, E2e, pollUntil, SUPPORT_URL, USER_EMAIL, type GatewayEvent, type SystemUnderTest } from './harness.ts';

const e2e = new E2e();
let sut: SystemUnderTest;
let childScript: string;
let sdkAppId: string;
const MODES = ['openai.plain', 'openai.stream', 'anthropic.plain', 'anthropic.stream'] as const;
const STACK_LINE = /^\s+at .+[:(]/m;
const RETRY_LINE = /retry|retrying|reconnecting/i;

beforeAll(async () => {
  sut = await e2e.system();
  const dir = e2e.dir('sdk-app');
  childScript = path.join(dir, 'ask-sdk.ts');
  fs.copyFileSync(path.join(import.meta.dirname, 'block-sdk-child.ts'), childScript);
  // The script imports the SDKs from the repository's node_modules.
  fs.symlinkSync(path.resolve(import.meta.dirname, '../../node_modules'), path.join(dir, 'node_modules'));
}, 60_000);
afterAll(() => e2e.cleanup());

async function blockedCount(appId: string): Promise<number> {
  const apps = (await sut.agent.json(['apps'])) as { appId: string; blockedCount: number }[];
  return apps.find((a) => a.appId === appId)?.blockedCount ?? 0;
}

async function policyVersion(): Promise<number> {
  return (await sut.agent.statusNow()).sections.policy.version as number;
}

async function gateway(args: string[]): Promise<void> {
  const before = await policyVersion();
  const r = await sut.gateway.cli(args);
  expect(r.code, r.stderr).toBe(0);
  await sut.agent.waitForPolicy(before + 1, 10_000);
}

/** One SDK call through `heimdall exec`; returns what the terminal showed. */
async function sdkCall(mode: string) {
  return sut.agent.exec(process.execPath, [childScript, mode], { env: { NODE_NO_WARNINGS: '1' } });
}

function expectOnce(output: string, sentence: string): void {
  expect(output.split(sentence).length - 1, output).toBe(1);
  expect(output).not.toMatch(STACK_LINE);
  expect(output).not.toMatch(RETRY_LINE);
}

/** Runs every SDK mode; each must be refused once, exit 1, and print `sentence` once. */
async function everySdkCallRefusedOnce(sentence: string, status: number): Promise<void> {
  for (const mode of MODES) {
    const before = sdkAppId ? await blockedCount(sdkAppId) : 0;
    const r = await sdkCall(mode);
    const shown = `${r.stdout}${r.stderr}`;
    expect(r.code, shown).toBe(1);
    expect(shown).toContain(`${status}`);
    expectOnce(shown, sentence);
    if (!sdkAppId) {
      const apps = (await sut.agent.json(['apps'])) as { appId: string; displayName: string }[];
      sdkAppId = apps.find((a) => a.displayName.startsWith('ask-sdk.ts'))!.appId;
      expect(sdkAppId).toMatch(/^script:node:[0-9a-f]+$/);
    }
    expect(await blockedCount(sdkAppId), `${mode}: requests the proxy refused`).toBe(before + 1);
  }
}

/** Claude Code -p: exits 1 and shows the sentence once; the proxy refused exactly one /v1/messages. */
async function claudeRefusedOnce(sentence: string): Promise<void> {
  const home = e2e.dir('home-claude');
  const before = await blockedCount('claude-code');
  const startedEvents = (await sut.gateway.deviceEvents(sut.deviceId, 200)).length;
  const r = await sut.agent.exec(CLI_BIN('claude'), ['-p', 'say hi through heimdall'], {
    cwd: home,
    env: { HOME: home, TERM: 'dumb', ANTHROPIC_API_KEY: 'dummy', DISABLE_TELEMETRY: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', DISABLE_AUTOUPDATER: '1' },
    timeoutMs: 90_000,
  });
  const shown = `${r.stdout}${r.stderr}`;
  expect(r.code, shown).not.toBe(0);
  expectOnce(shown, sentence);
  expect(shown).not.toContain('Failed to authenticate');
  const refused = (await blockedCount('claude-code')) - before;
  // Every refusal reaches the gateway as an event: read them all, then count the inference route.
  const { value: events } = await pollUntil('claude-code block events at the gateway', async () => {
    const mine = (await sut.gateway.deviceEvents(sut.deviceId, 200)).slice(startedEvents).filter((e: GatewayEvent) => e.app === 'claude-code' && e.type === 'block');
    return mine.length >= refused ? mine : undefined;
  }, { deadlineMs: 10_000, intervalMs: 200 });
  const messages = events.filter((e) => e.attrs['route'] === 'anthropic-api');
  expect(messages, JSON.stringify(events.map((e) => e.attrs))).toHaveLength(1);
  // Its other calls (settings, event logging) were each refused once too, none repeated.
  expect(events.length).toBe(refused);
}

describe('an app Heimdall blocks, as the person sees it', () => {
  const pending = 'is waiting for approval at Acme: your IT team has been asked to review it, and once they approve it, it will work with no action from you.';
  const denied = 'is blocked at Acme: an administrator denied it.';

  it('pending: every SDK call, plain and streaming, is refused once with the pending sentence', async () => {
    await gateway(['settings', 'set', 'pending_action', 'block']);
    await everySdkCallRefusedOnce(pending, 403);
  }, 120_000);

  it('pending: Claude Code stops at once with the pending sentence', async () => {
    await claudeRefusedOnce(`Claude Code ${pending}`);
  }, 120_000);

  it('request-access reaches the approval queue with the reason and the person', async () => {
    const reason = 'I review the payments team pull requests with it';
    const r = await sut.agent.cli(['request-access', sdkAppId, '--reason', reason]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('When they approve it, it will work with no action from you.');
    const { value: item } = await pollUntil('the request in the approval queue', async () => {
      const queue = (await sut.gateway.json(['approvals', 'list'])) as { approvals: { id?: string; requests: { reason: string; os_user: string | null; user_email: string | null }[] }[] };
      return queue.approvals.find((a) => a.id === sdkAppId && a.requests.length > 0);
    }, { deadlineMs: 5_000, intervalMs: 100 });
    expect(item.requests[0]).toMatchObject({ reason, os_user: expect.any(String), user_email: USER_EMAIL });
    const human = await sut.gateway.cli(['approvals', 'list']);
    expect(human.stdout).toContain(reason);
    // A reason is required, and an app id with shell words is refused with a sentence.
    const bad = await sut.agent.cli(['request-access', 'a b', '--reason', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/heimdall request-access: app: /);
  }, 60_000);

  it('denied: every SDK call is refused once with the denied sentence and the support URL', async () => {
    await gateway(['apps', 'deny', sdkAppId]);
    await everySdkCallRefusedOnce(denied, 403);
    const r = await sdkCall('openai.plain');
    expect(r.stderr).toContain(SUPPORT_URL);
    expect(r.stderr).toContain(`heimdall request-access ${sdkAppId} --reason`);
  }, 120_000);

  it('denied: Claude Code stops at once with the denied sentence, not a sign-in error', async () => {
    await gateway(['apps', 'deny', 'claude-code']);
    await claudeRefusedOnce(`Claude Code ${denied}`);
  }, 120_000);

  it('not signed in: every SDK call and Claude Code are refused once, naming `heimdall login`', async () => {
    await gateway(['apps', 'approve', sdkAppId]);
    await gateway(['apps', 'approve', 'claude-code']);
    const out = await sut.agent.cli(['logout']);
    expect(out.code, out.stderr).toBe(0);
    await everySdkCallRefusedOnce(NOT_SIGNED_IN_SENTENCE, 401);
    await claudeRefusedOnce(NOT_SIGNED_IN_SENTENCE);
  }, 180_000);
});
