// The inference routes mounted on the gateway's listener, with the control plane behind them: a
// virtual key created through the admin API works, a revoked one stops working, the direct-key
// setting is honoured live, and each request leaves one audit event in the events API.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { DEVICE_TOKEN_HEADER } from '../../protocol/index.ts';
import { createKey, enroll, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let upstream: DemoUpstream;
const PROVIDER_KEY = 'sk-demo-org-key';

beforeAll(async () => {
  upstream = await startDemoUpstream({ keys: { openai: [PROVIDER_KEY, 'sk-users-own-key'] }, chunkDelayMs: 0 });
  process.env['HEIMDALL_TEST_OPENAI_KEY'] = PROVIDER_KEY;
  gw = await startTestGateway({
    config: { ...EMPTY_CONFIG, inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.HEIMDALL_TEST_OPENAI_KEY' } } }, source: 'test config' },
  });
});
afterAll(async () => {
  await gw.stop();
  await upstream.close();
});

const chat = (auth: Record<string, string>) =>
  fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-bf-dim-app': 'curl', ...auth },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });

describe('inference routes on the gateway listener', () => {
  it('serves a request with a virtual key from the store and records one audit event', async () => {
    const key = await createKey(gw, 'infer@example.com');
    const device = (await enroll(gw, key.key, 'dev-infer')).body;
    const res = await chat({ authorization: `Bearer ${key.key}`, [DEVICE_TOKEN_HEADER]: device.device_token });
    expect(res.status).toBe(200);
    await res.text();
    expect(upstream.received.at(-1)?.headers['authorization']).toBe(`Bearer ${PROVIDER_KEY}`);
    // The audit event is written when the exchange has ended on the gateway side, which may trail the client's read.
    const events = await vi.waitFor(async () => {
      const list = (await gw.admin<{ events: { attrs: Record<string, unknown> }[] }>('GET', 'events?type=inference')).body.events;
      expect(list).toHaveLength(1);
      return list;
    });
    expect(events[0]).toMatchObject({ source: 'gateway', type: 'inference', device_id: 'dev-infer', app: 'curl', user_email: 'infer@example.com', attrs: { key_id: key.id, status: 200, provider: 'openai' } });
    expect(JSON.stringify(events)).not.toContain(key.key);

    await gw.admin('POST', `keys/${key.id}/revoke`);
    expect((await chat({ authorization: `Bearer ${key.key}` })).status).toBe(401);
  });

  it('honours x-bf-direct-key only while allow_direct_keys is on', async () => {
    const key = await createKey(gw, 'direct@example.com');
    const direct = { authorization: 'Bearer sk-users-own-key', 'x-bf-vk': key.key, 'x-bf-direct-key': 'true' };
    const refused = await chat(direct);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    await gw.admin('PATCH', 'settings', { allow_direct_keys: true });
    const allowed = await chat(direct);
    expect(allowed.status).toBe(200);
    await allowed.text();
    expect(upstream.received.at(-1)?.headers['authorization']).toBe('Bearer sk-users-own-key');
  });

  it('answers 404 for a path no route covers', async () => {
    expect((await fetch(`${gw.url}/nothing/here`)).status).toBe(404);
  });
});
