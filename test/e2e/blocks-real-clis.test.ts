// Codex and Gemini CLI, the real builds from node_modules, blocked while pending, denied and not
// signed in (Claude Code is in blocks.test.ts). Counted, not timed, from the events the proxy's
// refusals produce. What each CLI prints that no answer of Heimdall's can change is asserted as it is
// (docs/inference.md, "Blocks, per app", has the source lines), so a version that prints otherwise
// fails here and the table and the docs are looked at again:
// - `codex exec` turns a failed turn into two events, `error` and `turn.failed` (its --json output
//   shows both), and its human output prints each as "ERROR: <sentence>": two lines for one refusal,
//   whatever the answer. Heimdall accepts its websocket, completes the start-up prewarm empty and
//   fails the turn in band: one connection, one refused turn, no "failed to connect" log lines.
// - Gemini CLI 0.61 in text mode prints every API error with its stack (Turn.run's reportError, then
//   main's "An unexpected critical error occurred" for the non-FatalError it rethrows), whatever the
//   status or body; the sentence once in its first line, one request and exit 1 are what Heimdall controls.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NOT_SIGNED_IN_SENTENCE } from '../../agent/src/forward/index.ts';
import { CLI_BIN, E2e, pollUntil, type GatewayEvent, type SystemUnderTest } from './harness.ts';

const e2e = new E2e();
let sut: SystemUnderTest;

beforeAll(async () => {
  sut = await e2e.system();
}, 60_000);
afterAll(() => e2e.cleanup());

async function policyVersion(): Promise<number> {
  return (await sut.agent.statusNow()).sections.policy.version as number;
}

async function gateway(args: string[]): Promise<void> {
  const before = await policyVersion();
  const r = await sut.gateway.cli(args);
  expect(r.code, r.stderr).toBe(0);
  await sut.agent.waitForPolicy(before + 1, 10_000);
}

async function blockedCount(appId: string): Promise<number> {
  const apps = (await sut.agent.json(['apps'])) as { appId: string; blockedCount: number }[];
  return apps.find((a) => a.appId === appId)?.blockedCount ?? 0;
}

/** Runs a CLI; returns its output and every refusal of it the gateway recorded. */
async function run(appId: string, command: () => Promise<{ code: number | null; stdout: string; stderr: string }>) {
  const before = await blockedCount(appId);
  const startedEvents = (await sut.gateway.deviceEvents(sut.deviceId, 200)).length;
  const r = await command();
  const refused = (await blockedCount(appId)) - before;
  const { value: events } = await pollUntil(`${appId} block events`, async () => {
    const mine = (await sut.gateway.deviceEvents(sut.deviceId, 200)).slice(startedEvents).filter((e: GatewayEvent) => e.app === appId && e.type === 'block');
    return mine.length >= refused ? mine : undefined;
  }, { deadlineMs: 10_000, intervalMs: 200 });
  return { ...r, shown: `${r.stdout}${r.stderr}`, events };
}

function codex() {
  const home = e2e.dir('home-codex');
  fs.mkdirSync(path.join(home, '.codex'));
  return run('codex-cli', () => sut.agent.exec(CLI_BIN('codex'), ['exec', '--skip-git-repo-check', 'say hi through heimdall'], {
    cwd: home, env: { HOME: home, CODEX_HOME: path.join(home, '.codex'), TERM: 'dumb', CODEX_API_KEY: 'dummy' }, timeoutMs: 90_000,
  }));
}

function gemini() {
  const home = e2e.dir('home-gemini');
  fs.mkdirSync(path.join(home, '.gemini'));
  fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } } }));
  return run('gemini-cli', () => sut.agent.exec(CLI_BIN('gemini'), ['-m', 'demo-gemini', '-p', 'say hi through heimdall'], {
    cwd: home, env: { HOME: home, TERM: 'dumb', GEMINI_API_KEY: 'dummy', GEMINI_CLI_TRUST_WORKSPACE: 'true' }, timeoutMs: 120_000,
  }));
}

const count = (text: string, part: string): number => text.split(part).length - 1;

const STACK_LINE = /^\s+at .+[:(]/m;

async function codexRefusedAtOnce(sentence: string): Promise<void> {
  const r = await codex();
  expect(r.code, r.shown).not.toBe(0);
  // One refused turn, printed by codex exec as its `error` and its `turn.failed` event: two lines.
  expect(count(r.shown, `ERROR: ${sentence}`), r.shown).toBe(2);
  expect(count(r.shown, sentence), r.shown).toBe(2);
  expect(r.shown).not.toMatch(/Reconnecting|Falling back from WebSockets|failed to connect|retry/i);
  expect(r.shown).not.toMatch(STACK_LINE);
  const inference = r.events.filter((e) => e.attrs['route'] === 'openai-api');
  const seen = JSON.stringify(r.events.map((e) => e.attrs));
  // One websocket, accepted (101) and refused in band: the prewarm and the turn travel on it. Its
  // start-up model-catalog refreshes got the empty catalog (200), nothing else.
  expect(inference.filter((e) => e.attrs['status_code'] === 101), seen).toHaveLength(1);
  expect(inference.filter((e) => e.attrs['status_code'] !== 101 && e.attrs['status_code'] !== 200), seen).toHaveLength(0);
}

async function geminiRefusedOnce(sentence: string): Promise<void> {
  const r = await gemini();
  expect(r.code, r.shown).toBe(1);
  expect(count(r.shown, sentence), r.shown).toBe(1);
  // Its stack names retryWithBackoff: a retry line is one of the lines that is not a stack frame.
  expect(r.shown.split('\n').filter((line) => !STACK_LINE.test(line) && /retry|retrying|attempt \d/i.test(line)), r.shown).toEqual([]);
  // What Gemini CLI 0.61 prints for any API error in text mode, counted: its report line with the
  // stack, then its top-level handler's line for the plain object Turn.run yields.
  expect(count(r.shown, 'Error when talking to Gemini API'), r.shown).toBe(1);
  expect(count(r.shown, 'An unexpected critical error occurred:[object Object]'), r.shown).toBe(1);
  expect(r.shown).toMatch(STACK_LINE);
  const inference = r.events.filter((e) => e.attrs['route'] === 'genai-api');
  expect(inference.length, JSON.stringify(r.events.map((e) => e.attrs))).toBe(1);
  expect(inference[0]!.attrs['status_code']).toBe(403);
}

describe('Codex and Gemini CLI when Heimdall says no', () => {
  const pending = 'is waiting for approval at Acme: your IT team has been asked to review it, and once they approve it, it will work with no action from you.';
  const denied = 'is blocked at Acme: an administrator denied it.';

  it('pending', async () => {
    await gateway(['settings', 'set', 'pending_action', 'block']);
    await codexRefusedAtOnce(`Codex CLI ${pending}`);
    await geminiRefusedOnce(`Gemini CLI ${pending}`);
  }, 300_000);

  it('denied', async () => {
    await gateway(['apps', 'deny', 'codex-cli']);
    await gateway(['apps', 'deny', 'gemini-cli']);
    await codexRefusedAtOnce(`Codex CLI ${denied}`);
    await geminiRefusedOnce(`Gemini CLI ${denied}`);
  }, 300_000);

  it('not signed in', async () => {
    await gateway(['apps', 'approve', 'codex-cli']);
    await gateway(['apps', 'approve', 'gemini-cli']);
    const out = await sut.agent.cli(['logout']);
    expect(out.code, out.stderr).toBe(0);
    await codexRefusedAtOnce(NOT_SIGNED_IN_SENTENCE);
    await geminiRefusedOnce(NOT_SIGNED_IN_SENTENCE);
  }, 300_000);
});
