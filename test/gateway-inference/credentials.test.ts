// Virtual key checks, the direct-key setting, and the credential swap: the provider key never
// reaches the client, the virtual key and x-bf-* headers never reach the provider.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { NATIVE_KEYS, postJson, PROVIDER_KEYS, startGatewayWithDemo, VK } from './harness.ts';

let env: Awaited<ReturnType<typeof startGatewayWithDemo>>;
const chat = { model: 'demo-gpt', messages: [{ role: 'user', content: 'hello there' }] };
const message = { model: 'demo-claude', max_tokens: 50, messages: [{ role: 'user', content: 'hello there' }] };
const gemini = { contents: [{ parts: [{ text: 'hello there' }] }] };

beforeAll(async () => {
  env = await startGatewayWithDemo({ acceptNative: true });
});
afterAll(async () => {
  await env.close();
});
beforeEach(() => {
  env.gateway.directKeys.allowed = false;
  for (const row of env.gateway.keys.values()) row.revoked = false;
});

const url = (path: string) => `${env.gateway.url}${path}`;

describe('virtual key', () => {
  it('refuses a request without one with 401 in each provider shape', async () => {
    const o = await postJson(url('/openai/v1/chat/completions'), chat);
    expect(o.status).toBe(401);
    expect(o.json.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    expect(o.json.error.message).toMatch(/no virtual key/);
    expect(o.json.error.message).toContain('https://help.example.com/ai');

    const a = await postJson(url('/anthropic/v1/messages'), message);
    expect(a.status).toBe(401);
    expect(a.json).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });

    const g = await postJson(url('/genai/v1beta/models/demo-gemini:generateContent'), gemini);
    expect(g.status).toBe(401);
    expect(g.json).toMatchObject({ error: { code: 401, status: 'UNAUTHENTICATED' } });
  });

  it('refuses an unknown key and a native provider key sent in its place', async () => {
    const unknown = await postJson(url('/openai/v1/chat/completions'), chat, { authorization: 'Bearer sk-bf-not-a-real-key' });
    expect(unknown.status).toBe(401);
    expect(unknown.json.error.message).toMatch(/not valid or has been revoked/);
    // A provider key is not a virtual key: the gateway must not forward it as if it were.
    const native = await postJson(url('/openai/v1/chat/completions'), chat, { authorization: `Bearer ${NATIVE_KEYS.openai}` });
    expect(native.status).toBe(401);
  });

  it('cuts a key off at its next request once revoked', async () => {
    expect((await postJson(url('/anthropic/v1/messages'), message, { 'x-api-key': VK })).status).toBe(200);
    env.gateway.keys.get(VK)!.revoked = true;
    const after = await postJson(url('/anthropic/v1/messages'), message, { 'x-api-key': VK });
    expect(after.status).toBe(401);
    expect(after.json.error.type).toBe('authentication_error');
  });

  it('accepts the key from Authorization, x-bf-vk, x-api-key, x-goog-api-key and ?key=', async () => {
    expect((await postJson(url('/openai/v1/chat/completions'), chat, { authorization: `Bearer ${VK}` })).status).toBe(200);
    expect((await postJson(url('/openai/v1/chat/completions'), chat, { 'x-bf-vk': VK })).status).toBe(200);
    expect((await postJson(url('/anthropic/v1/messages'), message, { 'x-api-key': VK })).status).toBe(200);
    expect((await postJson(url('/genai/v1beta/models/demo-gemini:generateContent'), gemini, { 'x-goog-api-key': VK })).status).toBe(200);
    expect((await postJson(url(`/genai/v1beta/models/demo-gemini:generateContent?key=${VK}`), gemini)).status).toBe(200);
  });
});

describe('credential swap', () => {
  it('sends the provider key upstream and never the virtual key or x-bf-* headers', async () => {
    const before = env.demo.received.length;
    await postJson(url('/openai/v1/chat/completions'), chat, { authorization: `Bearer ${VK}`, 'x-bf-dim-app': 'codex', 'x-bf-dim-device': 'dev-1' });
    await postJson(url('/anthropic/v1/messages'), message, { 'x-api-key': VK, 'anthropic-version': '2023-06-01' });
    await postJson(url(`/genai/v1beta/models/demo-gemini:generateContent?key=${VK}&alt=json`), gemini);
    const seen = env.demo.received.slice(before);
    expect(seen.map((r) => r.provider)).toEqual(['openai', 'anthropic', 'genai']);
    expect(seen[0]!.headers['authorization']).toBe(`Bearer ${PROVIDER_KEYS.openai}`);
    expect(seen[1]!.headers['x-api-key']).toBe(PROVIDER_KEYS.anthropic);
    expect(seen[1]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen[2]!.headers['x-goog-api-key']).toBe(PROVIDER_KEYS.genai);
    expect(seen[2]!.query).toBe('alt=json');
    for (const r of seen) {
      expect(JSON.stringify(r)).not.toContain('sk-bf-');
      expect(Object.keys(r.headers).filter((h) => h.startsWith('x-bf-'))).toEqual([]);
    }
  });

  it('never shows the provider key to the client', async () => {
    const answers = [
      await postJson(url('/openai/v1/chat/completions'), { ...chat, stream: true }, { authorization: `Bearer ${VK}` }),
      await postJson(url('/anthropic/v1/messages'), message, { 'x-api-key': VK }),
      await postJson(url('/genai/v1beta/models/demo-gemini:streamGenerateContent?alt=sse'), gemini, { 'x-goog-api-key': VK }),
    ];
    for (const a of answers) {
      expect(a.status).toBe(200);
      const visible = a.text + JSON.stringify([...a.headers.entries()]);
      for (const key of Object.values(PROVIDER_KEYS)) expect(visible).not.toContain(key);
    }
  });
});

describe('direct keys (x-bf-direct-key)', () => {
  const direct = { 'x-bf-vk': VK, 'x-bf-direct-key': 'true', authorization: `Bearer ${NATIVE_KEYS.openai}` };

  it('are refused with 403 while the organisation does not allow them', async () => {
    const before = env.demo.received.length;
    const r = await postJson(url('/openai/v1/chat/completions'), chat, direct);
    expect(r.status).toBe(403);
    expect(r.json.error.message).toMatch(/direct provider keys are not allowed/);
    const a = await postJson(url('/anthropic_passthrough/v1/messages'), message, { 'x-bf-vk': VK, 'x-bf-direct-key': 'true', 'x-api-key': NATIVE_KEYS.anthropic });
    expect(a.status).toBe(403);
    expect(a.json.error.type).toBe('permission_error');
    expect(env.demo.received.length).toBe(before);
  });

  it('forward the app native key when allowed, and still need the virtual key', async () => {
    env.gateway.directKeys.allowed = true;
    const before = env.demo.received.length;
    const r = await postJson(url('/openai_passthrough/v1/chat/completions'), chat, direct);
    expect(r.status).toBe(200);
    expect(r.json.choices[0].message.content).toContain('Hello from the Heimdall demo upstream');
    const a = await postJson(url('/anthropic_passthrough/v1/messages'), message, { 'x-bf-vk': VK, 'x-bf-direct-key': 'true', 'x-api-key': NATIVE_KEYS.anthropic });
    expect(a.status).toBe(200);
    const seen = env.demo.received.slice(before);
    expect(seen[0]!.headers['authorization']).toBe(`Bearer ${NATIVE_KEYS.openai}`);
    expect(seen[1]!.headers['x-api-key']).toBe(NATIVE_KEYS.anthropic);
    for (const s of seen) {
      expect(JSON.stringify(s)).not.toContain('sk-bf-');
      expect(JSON.stringify(s)).not.toContain(PROVIDER_KEYS.openai);
    }

    const noVk = await postJson(url('/openai_passthrough/v1/chat/completions'), chat, { 'x-bf-direct-key': 'true', authorization: `Bearer ${NATIVE_KEYS.openai}` });
    expect(noVk.status).toBe(401);
    const noNative = await postJson(url('/openai_passthrough/v1/chat/completions'), chat, { 'x-bf-vk': VK, 'x-bf-direct-key': 'true' });
    expect(noNative.status).toBe(401);
    expect(noNative.json.error.message).toMatch(/no provider credential of its own/);
  });

  it('carry the user ChatGPT token on /chatgpt_passthrough, which has no organisation key', async () => {
    const body = { model: 'demo-gpt', input: 'codex via chatgpt', stream: false };
    const refused = await postJson(url('/chatgpt_passthrough/backend-api/codex/responses'), body, { 'x-bf-vk': VK });
    expect(refused.status).toBe(403);
    expect(refused.json.error.message).toMatch(/forwards only your own chatgpt credential/);
    env.gateway.directKeys.allowed = true;
    const ok = await postJson(url('/chatgpt_passthrough/backend-api/codex/responses'), body, { 'x-bf-vk': VK, 'x-bf-direct-key': 'true', authorization: `Bearer ${NATIVE_KEYS.chatgpt}` });
    expect(ok.status).toBe(200);
    expect(ok.json.output[0].content[0].text).toBe('Hello from the Heimdall demo upstream (model demo-gpt): codex via chatgpt');
    // Bifrost restricts this route to the Codex responses endpoint.
    const other = await postJson(url('/chatgpt_passthrough/backend-api/conversation'), body, { 'x-bf-vk': VK, 'x-bf-direct-key': 'true', authorization: `Bearer ${NATIVE_KEYS.chatgpt}` });
    expect(other.status).toBe(404);
  });
});
