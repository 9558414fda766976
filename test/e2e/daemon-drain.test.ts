// Daemon shutdown with a stream in flight (issues 2 and 3), through the real daemon's proxy, the
// gateway and the DEMO upstream: on SIGTERM the daemon stops taking new connections, lets the
// stream finish within the grace period and exits 0; with a grace shorter than the stream, the
// stream is cut when the grace ends (the client sees a truncated stream, never a clean end) and the
// daemon still exits 0.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_PATH, chatBody, demoAnswer, E2e, type AgentProcess, type SystemUnderTest } from './harness.ts';

const PROMPT = 'one two three four five six seven eight nine ten eleven twelve';
const e2e = new E2e();
let sut: SystemUnderTest;

beforeAll(async () => {
  // 150 ms between streamed words: the answer streams for about three seconds.
  sut = await e2e.system({ chunkDelayMs: 150 });
}, 60_000);
afterAll(() => e2e.cleanup());

/** Starts a streaming chat completion with curl through `agent`'s proxy; resolves once the first event arrived. */
async function startStream(agent: AgentProcess, env: Record<string, string>) {
  const stream = e2e.start('curl', ['-sS', '-N', 'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-d', chatBody(PROMPT, true)], {
    env: { PATH: BASE_PATH, HOME: agent.options.home, ...env },
  });
  await stream.waitForLine((l) => l.startsWith('data: {'), 10_000);
  return stream;
}

/** The text carried by the stream's `data:` events. */
function streamedText(lines: string[]): string {
  return lines
    .filter((l) => l.startsWith('data: {'))
    .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
    .join('');
}

describe('SIGTERM with a stream in flight', () => {
  it('stops accepting, lets the stream complete, and exits 0', async () => {
    const agent = sut.agent;
    const env = await agent.proxyEnv();
    const stream = await startStream(agent, env);
    const daemon = agent.proc!;
    daemon.child.kill('SIGTERM');
    await daemon.waitForLine((l) => l.includes('"msg":"no new work accepted; draining"'));

    // While it drains, the proxy takes no new connection (curl exit 7: could not connect).
    const late = await e2e.run('curl', ['-sS', 'https://api.openai.com/v1/chat/completions', '-d', chatBody('too late')], { env: { PATH: BASE_PATH, ...env } });
    expect(late.code).toBe(7);
    expect(stream.child.exitCode).toBeNull();

    expect(await stream.exited).toEqual({ code: 0, signal: null });
    expect(stream.lines().at(-1)).toBe('data: [DONE]');
    expect(streamedText(stream.lines())).toBe(demoAnswer('demo-gpt', PROMPT));
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.logs().some((l) => l['msg'] === 'drain deadline reached; closing remaining proxy connections')).toBe(false);
    // The shutdown log counts the stream that was in flight when listening stopped.
    expect(daemon.logs().find((l) => l['msg'] === 'no new work accepted; draining')?.['in_flight']).toBeGreaterThanOrEqual(1);
    agent.proc = undefined;
  });

  it('with a grace shorter than the stream, cuts it when the grace ends and still exits 0', async () => {
    const agent = await e2e.agent(sut.gateway, { graceS: 0.5 });
    await agent.login(sut.virtualKey);
    await agent.waitForPolicy(1, 15_000);
    const stream = await startStream(agent, await agent.proxyEnv());
    const daemon = agent.proc!;
    daemon.child.kill('SIGTERM');

    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.logs().find((l) => l['msg'] === 'drain deadline reached; closing remaining proxy connections')).toMatchObject({ connections: 1 });
    const end = await stream.exited;
    // A truncated stream: curl reports the cut (18: transfer closed with data outstanding) and the
    // client never saw the end marker, so it cannot take a partial answer for a whole one.
    expect(end.code).not.toBe(0);
    expect(stream.lines()).not.toContain('data: [DONE]');
    const partial = streamedText(stream.lines());
    expect(demoAnswer('demo-gpt', PROMPT).startsWith(partial)).toBe(true);
    expect(partial.length).toBeLessThan(demoAnswer('demo-gpt', PROMPT).length);
    agent.proc = undefined;
  });
});
