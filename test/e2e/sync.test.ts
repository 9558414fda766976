// Sync end to end (issue 4) with the real gateway and agent processes: a deny reaches the agent as a
// push (not a resync); with the gateway stopped the agent keeps enforcing its last policy and queues its
// audit events in the outbox (a real SQLite file), which drains exactly once when the gateway comes
// back on the same port and data dir; a kill -9 of the agent in the middle of a stream loses
// nothing that was written and keeps the policy, enforced before the gateway is reachable again.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '../helpers/process.ts';
import { BASE_PATH, chatBody, copyCurl, E2e, pollUntil, type GatewayEvent, type SystemUnderTest } from './harness.ts';

const e2e = new E2e();
let sut: SystemUnderTest;
let proxyEnv: Record<string, string>;
/** Requests by the catalog app `curl` that completed (each is one agent audit event). */
let curlExchanges = 0;
/** Every event seq seen in the agent's outbox file while the gateway was away. */
const queuedSeqs = new Set<number>();
let streamClient: string;

beforeAll(async () => {
  // 200 ms between streamed words: a chat stream lasts about four seconds, long enough to act in.
  sut = await e2e.system({ chunkDelayMs: 200 });
  proxyEnv = await sut.agent.proxyEnv();
  // An app other than curl for the stream (curl is denied by then): a copy under another name.
  streamClient = path.join(e2e.dir('tools'), 'stream-client');
  copyCurl(streamClient);
}, 60_000);
afterAll(() => e2e.cleanup());

/** curl (the catalog app) with the environment `heimdall exec` sets; returns the HTTP status and body. */
async function curl(prompt: string): Promise<{ status: number; body: string }> {
  const r = await e2e.run('curl', ['-sS', '-w', '\n%{http_code}', 'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-d', chatBody(prompt)], {
    env: { PATH: BASE_PATH, HOME: sut.agent.options.home, ...proxyEnv },
  });
  const cut = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(cut + 1));
  if (status > 0) curlExchanges++;
  return { status, body: r.stdout.slice(0, cut) };
}

async function expectCurlDenied(): Promise<void> {
  const r = await curl('are you there');
  expect(r.status).toBe(403);
  expect(JSON.parse(r.body).error.message).toContain('curl is blocked at Acme: an administrator denied it.');
}

/** The event seqs in the agent's outbox, read from its SQLite file (the agent may be dead). */
function outboxEventSeqs(): number[] {
  const db = new Database(path.join(sut.agent.stateDir, 'heimdall.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], { seq: number }>("SELECT seq FROM sync_outbox WHERE kind = 'event' ORDER BY seq").all().map((r) => r.seq);
  } finally {
    db.close();
  }
}

async function waitForDrain(): Promise<void> {
  await pollUntil(
    'the agent reconnected and its outbox drained',
    async () => {
      const s = await sut.agent.statusNow();
      return s.sections.sync.state === 'connected' && s.sections.sync.outbox_depth === 0 ? true : undefined;
    },
    // Reconnects use full-jitter backoff (1 s doubling): allow a few rounds.
    { deadlineMs: 30_000, intervalMs: 100 },
  );
}

/** The agent's own events at the gateway: every seq unique, every queued seq stored, curl's count exact. */
async function expectExactlyOnce(): Promise<GatewayEvent[]> {
  const events = (await sut.gateway.deviceEvents(sut.deviceId)).filter((e) => e.source === 'agent');
  const seqs = events.map((e) => e.seq);
  expect(new Set(seqs).size).toBe(seqs.length);
  const stored = new Set(seqs);
  expect([...queuedSeqs].filter((s) => !stored.has(s))).toEqual([]);
  expect(events.filter((e) => e.app === 'curl').length).toBe(curlExchanges);
  return events;
}

describe('policy down, events up, across gateway and agent failures', () => {
  let policyVersion: number;

  it('a deny at the gateway reaches the connected agent as a push, long before any periodic resync', async () => {
    expect((await curl('hello before the deny')).status).toBe(200);
    const before = (await sut.agent.statusNow()).sections.policy.version as number;
    const deny = await sut.gateway.cli(['apps', 'deny', 'curl']);
    expect(deny.code, deny.stderr).toBe(0);
    // A push, not the periodic resync (minutes away): the deadline only bounds a broken run, it is
    // not the promise being tested.
    const { value: status } = await sut.agent.waitForPolicy(before + 1, 30_000);
    policyVersion = status.sections.policy.version!;
    const cli = await sut.agent.json(['status']);
    expect(cli.sections.sync).toMatchObject({ state: 'connected', policy_version: policyVersion });
    expect(cli.sections.policy.version).toBe(policyVersion);
    await expectCurlDenied();
  });

  it('with the gateway stopped, the agent keeps enforcing and queues events; they arrive exactly once after a restart', async () => {
    // SIGINT: the gateway stops at once (1001, the agent's backoff). SIGTERM would drain it, and the
    // agent would wait a random delay of up to 30 s (docs/operations.md), which is not what this tests.
    expect(await sut.gateway.stop('SIGINT')).toEqual({ code: 0, signal: null });
    await pollUntil('the agent noticed the gateway left', async () => ((await sut.agent.statusNow()).sections.sync.state !== 'connected' ? true : undefined), {
      deadlineMs: 5_000,
    });
    const depthBefore = (await sut.agent.statusNow()).sections.sync.outbox_depth;
    for (let i = 0; i < 5; i++) await expectCurlDenied();
    const { value: depth } = await pollUntil(
      'outbox depth grew by the five blocked requests',
      async () => {
        const d = (await sut.agent.statusNow()).sections.sync.outbox_depth;
        return d >= depthBefore + 5 ? d : undefined;
      },
      { deadlineMs: 5_000 },
    );
    const human = await sut.agent.cli(['status']);
    expect(human.stdout).toContain(`${depth} report(s) waiting to upload`);
    for (const s of outboxEventSeqs()) queuedSeqs.add(s);
    expect(queuedSeqs.size).toBeGreaterThanOrEqual(5);
    expect((await sut.agent.statusNow()).sections.policy.version).toBe(policyVersion);

    await sut.gateway.start();
    await waitForDrain();
    await expectExactlyOnce();
  }, 60_000);

  it('a kill -9 of the agent mid-stream loses nothing written and keeps the policy, enforced before the gateway is back', async () => {
    // A stream through the agent and the gateway, in flight.
    const prompt = 'one two three four five six seven eight nine ten eleven twelve';
    const stream: RunningProcess = e2e.start(streamClient, ['-sS', '-N', 'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-d', chatBody(prompt, true)], {
      env: { PATH: BASE_PATH, HOME: sut.agent.options.home, ...proxyEnv },
    });
    await stream.waitForLine((l) => l.startsWith('data: {'), 10_000);

    // The gateway goes away (its listener closes; the agents' channel with it) while the stream runs;
    // the agent keeps blocking curl and writes those events to its outbox.
    const gatewayExit = sut.gateway.stop('SIGINT');
    await pollUntil('the agent noticed the gateway left', async () => ((await sut.agent.statusNow()).sections.sync.state !== 'connected' ? true : undefined), {
      deadlineMs: 5_000,
    });
    const depthBefore = (await sut.agent.statusNow()).sections.sync.outbox_depth;
    for (let i = 0; i < 3; i++) await expectCurlDenied();
    await pollUntil(
      'the three blocked requests written to the outbox',
      async () => (((await sut.agent.statusNow()).sections.sync.outbox_depth) >= depthBefore + 3 ? true : undefined),
      { deadlineMs: 5_000 },
    );

    expect(stream.child.exitCode).toBeNull();
    expect(stream.lines().some((l) => l === 'data: [DONE]')).toBe(false);
    // (The stream client is a new app: the policy may have moved past policyVersion to list it.)
    const versionAtKill = (await sut.agent.statusNow()).sections.policy.version;
    expect(versionAtKill).toBeGreaterThanOrEqual(policyVersion);
    expect(await sut.agent.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await gatewayExit).toEqual({ code: 0, signal: null });
    await stream.exited;

    const written = outboxEventSeqs();
    expect(written.length).toBeGreaterThanOrEqual(3);
    for (const s of written) queuedSeqs.add(s);

    // Restarted on the same state dir with no gateway: the same policy, enforced at once.
    await sut.agent.start();
    const restarted = await sut.agent.statusNow();
    expect(restarted.sections.policy.version).toBe(versionAtKill);
    expect(restarted.sections.sync.state).not.toBe('connected');
    await expectCurlDenied();
    expect(outboxEventSeqs()).toEqual(expect.arrayContaining(written));
    for (const s of outboxEventSeqs()) queuedSeqs.add(s);

    await sut.gateway.start();
    await waitForDrain();
    // Reconnected: the deny still holds.
    await expectCurlDenied();
    await waitForDrain();
    const events = await expectExactlyOnce();
    expect(events.length).toBeGreaterThanOrEqual(queuedSeqs.size);
  }, 90_000);
});
