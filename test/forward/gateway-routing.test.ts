// curl through the real proxy to provider hosts: requests reach the test gateway on the right
// drop-in route with the right credential, or reach the origin unchanged.
import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createHeimdallCa, createTestPki, curl, startProxy, startTestUpstream, tempDir, type RunningProxy, type TestUpstream,
  TEST_ALLOWED,
} from '../intercept/harness.ts';
import type { Attribution } from '../../agent/src/intercept/index.ts';

let dir: string;
let gateway: TestUpstream;
let origin: TestUpstream;
let proxy: RunningProxy;
let passthroughProxy: RunningProxy;
let anonymousProxy: RunningProxy;

beforeAll(async () => {
  dir = tempDir('heimdall-routing-');
  const pki = createTestPki(dir);
  const heimdallCa = await createHeimdallCa(dir);
  gateway = await startTestUpstream(pki, 'gateway', ['gateway.test']);
  origin = await startTestUpstream(pki, 'origin', ['api.anthropic.com', 'api.openai.com', 'chatgpt.com', 'claude.ai']);
  const common = {
    gatewayUrl: gateway.url,
    gatewayCa: pki.caPem,
    resolveOrigin: (host: string) => ({ url: origin.url, ca: pki.caPem, servername: host }),
  };
  proxy = await startProxy(heimdallCa, {
    ...common,
    governor: {
      admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { appId: 'claude-code', routingMode: 'gateway' } satisfies Attribution }),
      admitRequest: () => ({ decision: 'allow', policy: TEST_ALLOWED }),
    },
  });
  passthroughProxy = await startProxy(heimdallCa, {
    ...common,
    governor: {
      admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { appId: 'codex', routingMode: 'passthrough' } }),
      admitRequest: () => ({ decision: 'allow', policy: TEST_ALLOWED }),
    },
  });
  anonymousProxy = await startProxy(heimdallCa, { ...common, getCredential: () => undefined });
});

afterAll(async () => {
  await Promise.all([proxy?.close(), passthroughProxy?.close(), anonymousProxy?.close(), gateway?.close(), origin?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  gateway.requests.length = 0;
  origin.requests.length = 0;
});

function via(p: RunningProxy): string[] {
  return ['--proxy', p.proxyUrl, '--cacert', p.caPath];
}

describe('gateway mode', () => {
  it('sends an OpenAI chat completion to /openai/v1 with the virtual key instead of the app key', async () => {
    const r = await curl([...via(proxy), 'https://api.openai.com/v1/chat/completions', '-H', 'Authorization: Bearer sk-app-secret',
      '-H', 'content-type: application/json', '-d', '{"model":"gpt-4o","messages":[]}']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(200);
    expect(gateway.requests).toHaveLength(1);
    const got = gateway.requests[0]!;
    expect(got.url).toBe('/openai/v1/chat/completions');
    expect(got.headers.authorization).toBe('Bearer sk-bf-test-virtual-key');
    expect(got.headers['x-bf-vk']).toBe('sk-bf-test-virtual-key');
    expect(got.headers['x-bf-direct-key']).toBeUndefined();
    expect(JSON.stringify(got.headers)).not.toContain('sk-app-secret');
    expect(got.headers['x-bf-dim-app']).toBe('claude-code');
    expect(got.headers['x-bf-dim-device']).toBe('dev-test-1');
    expect(got.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(got.headers.host).toBe(`127.0.0.1:${gateway.port}`);
    expect(got.body).toBe('{"model":"gpt-4o","messages":[]}');
    expect(proxy.records.at(-1)).toMatchObject({ routeId: 'openai-api', outcome: 'forwarded', status: 200, path: '/v1/chat/completions', destination: 'gateway' });
  });

  it('sends Anthropic messages to /anthropic/v1 without the x-api-key and keeps the app request id', async () => {
    const r = await curl([...via(proxy), 'https://api.anthropic.com/v1/messages?beta=true', '-H', 'x-api-key: sk-ant-app',
      '-H', 'anthropic-version: 2023-06-01', '-H', 'x-request-id: app-req-42', '-d', '{}']);
    expect(r.status).toBe(200);
    const got = gateway.requests[0]!;
    expect(got.url).toBe('/anthropic/v1/messages?beta=true');
    expect(got.headers['x-api-key']).toBeUndefined();
    expect(got.headers.authorization).toBe('Bearer sk-bf-test-virtual-key');
    expect(got.headers['anthropic-version']).toBe('2023-06-01');
    expect(got.headers['x-request-id']).toBe('app-req-42');
  });

  it('sends Gemini calls to /genai and strips both x-goog-api-key and the ?key= query credential', async () => {
    const r = await curl([...via(proxy), 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIza-app',
      '-H', 'x-goog-api-key: AIza-app', '-d', '{}']);
    expect(r.status).toBe(200);
    const got = gateway.requests[0]!;
    expect(got.url).toBe('/genai/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(got.headers['x-goog-api-key']).toBeUndefined();
    expect(JSON.stringify(got)).not.toContain('AIza-app');
  });

  it('sends the Codex responses path on chatgpt.com to /chatgpt_passthrough with its own sign-in token', async () => {
    const r = await curl([...via(proxy), 'https://chatgpt.com/backend-api/codex/responses', '-H', 'Authorization: Bearer chatgpt-oauth', '-d', '{}']);
    expect(r.status).toBe(200);
    const got = gateway.requests[0]!;
    expect(got.url).toBe('/chatgpt_passthrough/backend-api/codex/responses');
    expect(got.headers.authorization).toBe('Bearer chatgpt-oauth');
    expect(got.headers['x-bf-direct-key']).toBe('true');
    expect(got.headers['x-bf-vk']).toBe('sk-bf-test-virtual-key');
  });

  it('tells the person to run heimdall login, in the provider shape, when there is no virtual key', async () => {
    const r = await curl([...via(anonymousProxy), 'https://api.anthropic.com/v1/messages', '-d', '{}']);
    expect(r.status).toBe(401);
    const body = JSON.parse(r.body);
    expect(body.type).toBe('error');
    expect(body.error.type).toBe('authentication_error');
    expect(body.error.message).toContain('heimdall login');
    expect(gateway.requests).toHaveLength(0);
  });
});

describe('pass-through mode', () => {
  it('keeps the app key, uses the passthrough route and adds x-bf-direct-key and x-bf-vk', async () => {
    const r = await curl([...via(passthroughProxy), 'https://api.openai.com/v1/responses', '-H', 'Authorization: Bearer sk-app-own', '-d', '{}']);
    expect(r.status).toBe(200);
    const got = gateway.requests[0]!;
    expect(got.url).toBe('/openai_passthrough/v1/responses');
    expect(got.headers.authorization).toBe('Bearer sk-app-own');
    expect(got.headers['x-bf-direct-key']).toBe('true');
    expect(got.headers['x-bf-vk']).toBe('sk-bf-test-virtual-key');
    expect(got.headers['x-bf-dim-app']).toBe('codex');
    expect(passthroughProxy.records.at(-1)?.destination).toBe('passthrough');
  });
});

describe('origin mode', () => {
  it('forwards Claude Code settings calls to the real origin with the original headers and credential', async () => {
    const r = await curl([...via(proxy), 'https://api.anthropic.com/api/claude_code/settings', '-H', 'x-api-key: sk-ant-app', '-H', 'x-app: cli']);
    expect(r.status).toBe(200);
    expect(gateway.requests).toHaveLength(0);
    const got = origin.requests[0]!;
    expect(got.url).toBe('/api/claude_code/settings');
    expect(got.headers['x-api-key']).toBe('sk-ant-app');
    expect(got.headers.host).toBe('api.anthropic.com');
    expect(got.headers['x-bf-vk']).toBeUndefined();
    expect(got.headers['x-bf-dim-app']).toBeUndefined();
    expect(proxy.records.at(-1)).toMatchObject({ routeId: 'anthropic-claude-code', destination: 'origin', outcome: 'forwarded' });
  });

  it('keeps several requests on one intercepted connection (keep-alive) routed by path', async () => {
    const r = await curl([...via(proxy), 'https://api.anthropic.com/v1/messages', '-d', '{}', '--next', ...via(proxy), 'https://api.anthropic.com/api/event_logging/v2/batch', '-d', '[]']);
    expect(r.code).toBe(0);
    expect(gateway.requests.map((q) => q.url)).toEqual(['/anthropic/v1/messages']);
    expect(origin.requests.map((q) => q.url)).toEqual(['/api/event_logging/v2/batch']);
  });
});
