// The Responses API websocket transport (what Codex opens first) through the gateway to the DEMO
// upstream: upgrade proxied, frames both ways, credentials swapped, refusals in the OpenAI shape.
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startDemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { DEVICE_TOKEN_HEADER } from '../../protocol/index.ts';
import { DEVICE_TOKEN, PROVIDER_KEYS, startGateway, startGatewayWithDemo, VK } from './harness.ts';

let env: Awaited<ReturnType<typeof startGatewayWithDemo>>;
beforeAll(async () => {
  env = await startGatewayWithDemo({ chunkDelayMs: 2 });
});
afterAll(async () => {
  await env.close();
});

function open(url: string, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode, body })));
    });
    ws.once('error', reject);
  });
}

interface Frame {
  type: string;
  delta?: string;
  response?: { output: { content: { text: string }[] }[] };
}

/** Sends one response.create and collects frames up to response.completed. */
function turn(ws: WebSocket, input: string): Promise<Frame[]> {
  return new Promise((resolve, reject) => {
    const frames: Frame[] = [];
    const onMessage = (data: Buffer) => {
      const f = JSON.parse(data.toString('utf8')) as Frame;
      frames.push(f);
      if (f.type === 'response.completed' || f.type === 'error') {
        ws.off('message', onMessage);
        resolve(frames);
      }
    };
    ws.on('message', onMessage);
    ws.once('error', reject);
    ws.send(JSON.stringify({ type: 'response.create', model: 'demo-gpt', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: input }] }], stream: true, store: false }));
  });
}

const wsUrl = (base: string, path: string) => base.replace(/^http/, 'ws') + path;

describe('GET /openai/v1/responses as a websocket', () => {
  it('carries two turns on one connection to the demo upstream with the provider key', async () => {
    const before = env.demo.received.length;
    const ws = await open(wsUrl(env.gateway.url, '/openai/v1/responses'), {
      authorization: `Bearer ${VK}`,
      'openai-beta': 'responses_websockets=2026-02-06',
      [DEVICE_TOKEN_HEADER]: DEVICE_TOKEN,
      'x-bf-dim-app': 'codex',
    });
    const first = await turn(ws, 'first turn over the socket');
    expect(first[0]!.type).toBe('response.created');
    expect(first.filter((f) => f.type === 'response.output_text.delta').map((f) => f.delta).join('')).toBe(
      'Hello from the Heimdall demo upstream (model demo-gpt): first turn over the socket',
    );
    const second = await turn(ws, 'second turn');
    expect(second.at(-1)!.response!.output[0]!.content[0]!.text).toBe('Hello from the Heimdall demo upstream (model demo-gpt): second turn');
    ws.close();

    const seen = env.demo.received.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ transport: 'websocket', path: '/v1/responses' });
    expect(seen[0]!.headers['authorization']).toBe(`Bearer ${PROVIDER_KEYS.openai}`);
    expect(seen[0]!.headers['openai-beta']).toBe('responses_websockets=2026-02-06');
    expect(JSON.stringify(seen[0])).not.toContain('sk-bf-');
    expect(Object.keys(seen[0]!.headers).filter((h) => h.startsWith('x-bf-'))).toEqual([]);

    const events = await env.gateway.waitForEvents(1);
    const e = events.find((x) => x.transport === 'websocket' && x.status === 101);
    expect(e).toMatchObject({ route: 'openai', endpoint: 'openai.responses.websocket', app: 'codex', device: 'dev-7f3a', userId: 'user-alice', outcome: 'ok' });
    expect(e!.bytesIn).toBeGreaterThan(0);
    expect(e!.bytesOut).toBeGreaterThan(0);
  });

  it('refuses an upgrade without a valid virtual key with a 401 in the OpenAI shape', async () => {
    const err = await open(wsUrl(env.gateway.url, '/openai/v1/responses'), { authorization: 'Bearer sk-bf-wrong' }).catch((e: unknown) => e as { status: number; body: string });
    expect(err).toMatchObject({ status: 401 });
    expect(JSON.parse((err as { body: string }).body).error).toMatchObject({ code: 'invalid_api_key' });
  });

  it('relays the upstream refusal of an upgrade as it is', async () => {
    const demo = await startDemoUpstream({ keys: { openai: 'some-other-key' } });
    const gw = await startGateway({ providers: { openai: { base_url: demo.url, api_key: 'env.T_OPENAI_KEY' } } });
    try {
      const err = await open(wsUrl(gw.url, '/openai/v1/responses'), { authorization: `Bearer ${VK}` }).catch((e: unknown) => e as { status: number; body: string });
      expect(err).toMatchObject({ status: 401 });
      expect((err as { body: string }).body).toContain('DEMO upstream');
      const [e] = await gw.waitForEvents(1);
      expect(e).toMatchObject({ transport: 'websocket', status: 401, outcome: 'ok', upstream: 'provider' });
    } finally {
      await gw.close();
      await demo.close();
    }
  });

  it('answers a plain GET on the websocket endpoint with 426', async () => {
    const res = await fetch(`${env.gateway.url}/openai/v1/responses`, { headers: { authorization: `Bearer ${VK}` } });
    expect(res.status).toBe(426);
  });
});
