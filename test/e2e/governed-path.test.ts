// The governed path end to end (issues 3 and 5), every part a real process: an app calls its
// provider as usual through `heimdall exec`, the daemon terminates TLS, swaps the app's key for the
// user's virtual key and forwards to the gateway, which calls the DEMO upstream with the
// organization's provider key. Both sides audit the request, attributed to the app.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatBody, demoAnswer, E2e, pollUntil, type GatewayEvent, type SystemUnderTest } from './harness.ts';

const e2e = new E2e();
let sut: SystemUnderTest;

beforeAll(async () => {
  sut = await e2e.system();
}, 60_000);
afterAll(() => e2e.cleanup());

describe('governed traffic through the real daemon and gateway', () => {
  it('curl through `heimdall exec` gets the DEMO answer, and both sides record it for app curl', async () => {
    const sent = sut.demo.received.length;
    const r = await sut.agent.exec('curl', [
      '-sS', '--fail-with-body', 'https://api.openai.com/v1/chat/completions',
      '-H', 'Authorization: Bearer sk-app-own', '-H', 'content-type: application/json',
      '-d', chatBody('hello through heimdall'),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).choices[0].message.content).toBe(demoAnswer('demo-gpt', 'hello through heimdall'));

    // The provider saw the organization's key, never the app's own key nor the virtual key.
    const upstream = sut.demo.received.slice(sent);
    expect(upstream).toEqual([expect.objectContaining({ provider: 'openai', path: '/v1/chat/completions' })]);
    expect(upstream[0]!.headers['authorization']).toBe('Bearer demo-openai-key');
    expect(JSON.stringify(upstream)).not.toContain('sk-app-own');
    expect(JSON.stringify(upstream)).not.toContain(sut.virtualKey);

    const { value: events } = await pollUntil(
      'the agent request event and the gateway inference event for curl',
      async () => {
        const all = await sut.gateway.deviceEvents(sut.deviceId);
        const request = all.find((e) => e.source === 'agent' && e.type === 'request' && e.app === 'curl');
        const inference = all.find((e) => e.source === 'gateway' && e.type === 'inference' && e.app === 'curl');
        return request && inference ? { request, inference } : undefined;
      },
      { deadlineMs: 10_000, intervalMs: 200 },
    );
    expect(events.request.attrs).toMatchObject({ host: 'api.openai.com', route: 'openai-api', decision: 'allow', status_code: 200 });
    expect(events.inference.attrs).toMatchObject({ endpoint: 'openai.chat.completions', provider: 'openai', model: 'demo-gpt', status: 200, user_email: 'alice@acme.example' });
    // Audit events carry no credentials.
    const wire = JSON.stringify([events.request, events.inference]);
    expect(wire).not.toContain('sk-app-own');
    expect(wire).not.toContain(sut.virtualKey);
  });

  it('the official openai and Anthropic SDKs, configured only by `heimdall exec`, complete plain and streaming calls', async () => {
    const r = await sut.agent.exec(process.execPath, [path.join(import.meta.dirname, 'sdk-child.ts'), 'hi from the sdks']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Nothing of Heimdall's in the app's terminal (Node's EnvHttpProxyAgent warning is silenced by `heimdall exec`).
    expect(r.stderr).not.toContain('EnvHttpProxyAgent');
    const calls = Object.fromEntries(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { call: string; text: string; events?: number })
        .map((c) => [c.call, c]),
    );
    expect(calls['openai.plain']?.text).toBe(demoAnswer('demo-gpt', 'hi from the sdks'));
    expect(calls['openai.stream']?.text).toBe(demoAnswer('demo-gpt', 'hi from the sdks'));
    expect(calls['anthropic.plain']?.text).toBe(demoAnswer('demo-claude', 'hi from the sdks'));
    expect(calls['anthropic.stream']?.text).toBe(demoAnswer('demo-claude', 'hi from the sdks'));
    // Streamed as a stream: one event per word of the answer, not one block.
    expect(calls['openai.stream']?.events).toBeGreaterThan(5);
    expect(calls['anthropic.stream']?.events).toBeGreaterThan(5);

    // The script is one app (interpreter + script), seen by the agent and named at the gateway.
    const apps = (await sut.agent.json(['apps'])) as { appId: string; displayName: string; kind: string; allowedCount: number }[];
    const sdkApp = apps.find((a) => a.displayName === 'sdk-child.ts (node)');
    expect(sdkApp).toMatchObject({ kind: 'sdk', allowedCount: 4 });
    const { value: inference } = await pollUntil(
      'four gateway inference events for the SDK script',
      async () => {
        const all: GatewayEvent[] = await sut.gateway.deviceEvents(sut.deviceId);
        const mine = all.filter((e) => e.source === 'gateway' && e.app === sdkApp!.appId);
        return mine.length >= 4 ? mine : undefined;
      },
      { deadlineMs: 10_000, intervalMs: 200 },
    );
    expect(inference.map((e) => e.attrs['endpoint']).sort()).toEqual(['anthropic.messages', 'anthropic.messages', 'openai.chat.completions', 'openai.chat.completions']);
  });
});
