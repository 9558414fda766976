// Exactly one audit event per inference request, with the attribution, route, model, status,
// latency and byte counts filled in, and no body or credential anywhere in it.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVICE_TOKEN_HEADER } from '../../protocol/index.ts';
import { DEVICE_TOKEN, NATIVE_KEYS, postJson, PROVIDER_KEYS, REVOKED_DEVICE_TOKEN, startGatewayWithDemo, VK, VK_BOB } from './harness.ts';

let env: Awaited<ReturnType<typeof startGatewayWithDemo>>;
beforeAll(async () => {
  env = await startGatewayWithDemo({ acceptNative: true });
});
afterAll(async () => {
  await env.close();
});

describe('inference audit events', () => {
  it('records who, what and how for a forwarded request', async () => {
    const start = env.gateway.events.length;
    const body = { model: 'demo-gpt', messages: [{ role: 'user', content: 'a secret prompt the audit must not hold' }] };
    const r = await postJson(`${env.gateway.url}/openai/v1/chat/completions`, body, {
      authorization: `Bearer ${VK}`,
      [DEVICE_TOKEN_HEADER]: DEVICE_TOKEN,
      'x-bf-dim-app': 'claude-code',
      // A claimed device is ignored: the device is the one the token proves.
      'x-bf-dim-device': 'dev-someone-else',
    });
    expect(r.status).toBe(200);
    const events = (await env.gateway.waitForEvents(start + 1)).slice(start);
    expect(events).toHaveLength(1);
    const e = events[0]!;
    expect(e).toMatchObject({
      method: 'POST',
      route: 'openai',
      endpoint: 'openai.chat.completions',
      provider: 'openai',
      upstream: 'provider',
      transport: 'http',
      model: 'demo-gpt',
      app: 'claude-code',
      device: 'dev-7f3a',
      keyId: 'vk-alice',
      userId: 'user-alice',
      userEmail: 'alice@example.com',
      directKey: false,
      status: 200,
      outcome: 'ok',
    });
    expect(e.requestId).toBe(r.headers.get('x-heimdall-request-id'));
    expect(e.bytesIn).toBe(Buffer.byteLength(JSON.stringify(body)));
    expect(e.bytesOut).toBe(Buffer.byteLength(r.text));
    expect(e.latencyMs).toBeGreaterThanOrEqual(0);
    expect(e.upstreamHeadersMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(e.at)).not.toBeNaN();
    const text = JSON.stringify(e);
    for (const secret of [VK, ...Object.values(PROVIDER_KEYS), 'a secret prompt']) expect(text).not.toContain(secret);
  });

  it('records one event per request, refusals and streams included', async () => {
    const start = env.gateway.events.length;
    const openai = new OpenAI({ apiKey: VK_BOB, baseURL: `${env.gateway.url}/openai/v1`, maxRetries: 0 });
    const stream = await openai.chat.completions.create({ model: 'demo-gpt-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    for await (const _ of stream) {
      /* drain */
    }
    await postJson(`${env.gateway.url}/anthropic/v1/messages`, {}, { 'x-api-key': 'sk-bf-nobody' });
    await postJson(`${env.gateway.url}/openai_passthrough/v1/chat/completions`, {}, { 'x-bf-vk': VK, 'x-bf-direct-key': 'true', authorization: `Bearer ${NATIVE_KEYS.openai}` });
    await postJson(`${env.gateway.url}/genai/v1beta/models/demo-gemini-flash:generateContent`, { contents: [] }, { 'x-goog-api-key': VK, [DEVICE_TOKEN_HEADER]: DEVICE_TOKEN, 'x-bf-dim-app': 'not a bounded value!' });
    // Every exchange has ended and recorded what it records: a stray duplicate would be here now.
    await env.gateway.handler.idle();
    const events = env.gateway.events.slice(start);
    expect(env.gateway.events.length).toBe(start + 4);
    expect(events.map((e) => [e.endpoint ?? e.route, e.status, e.outcome, e.userId, e.model])).toEqual([
      ['openai.chat.completions', 200, 'ok', 'user-bob', 'demo-gpt-mini'],
      ['anthropic', 401, 'unauthenticated', undefined, undefined],
      ['openai_passthrough', 403, 'forbidden', 'user-alice', undefined],
      ['genai.generate_content', 200, 'ok', 'user-alice', 'demo-gemini-flash'],
    ]);
    expect(events[0]!.bytesOut).toBeGreaterThan(500);
    expect(events[3]!.app).toBe('invalid');
    for (const e of events) {
      const text = JSON.stringify(e);
      for (const secret of [VK, VK_BOB, 'sk-bf-nobody', NATIVE_KEYS.openai, ...Object.values(PROVIDER_KEYS)]) expect(text).not.toContain(secret);
    }
  });
});

describe('device attribution', () => {
  it('records no device or app from client headers alone, and refuses a revoked device token with 403', async () => {
    const start = env.gateway.events.length;
    const bare = await postJson(`${env.gateway.url}/openai/v1/chat/completions`, { model: 'demo-gpt', messages: [] }, { authorization: `Bearer ${VK}`, 'x-bf-dim-app': 'codex', 'x-bf-dim-device': 'dev-7f3a' });
    expect(bare.status).toBe(200);
    const revoked = await postJson(`${env.gateway.url}/openai/v1/chat/completions`, { model: 'demo-gpt', messages: [] }, { authorization: `Bearer ${VK}`, [DEVICE_TOKEN_HEADER]: REVOKED_DEVICE_TOKEN });
    expect(revoked.status).toBe(403);
    expect(revoked.text).toContain('revoked');
    await env.gateway.handler.idle();
    const events = env.gateway.events.slice(start);
    expect(events.map((e) => [e.status, e.device, e.app])).toEqual([
      [200, undefined, undefined],
      [403, undefined, undefined],
    ]);
  });
});
