// The official SDKs, pointed at the gateway with a virtual key, get the DEMO upstream's answers
// through the drop-in routes, plain and streaming.
import Anthropic from '@anthropic-ai/sdk';
import http from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, startGatewayWithDemo, VK } from './harness.ts';

let env: Awaited<ReturnType<typeof startGatewayWithDemo>>;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  env = await startGatewayWithDemo({ chunkDelayMs: 5 });
  openai = new OpenAI({ apiKey: VK, baseURL: `${env.gateway.url}/openai/v1`, maxRetries: 0 });
  anthropic = new Anthropic({ apiKey: VK, baseURL: `${env.gateway.url}/anthropic`, maxRetries: 0 });
});
afterAll(async () => {
  await env.close();
});

describe('OpenAI SDK through /openai/v1', () => {
  it('gets a chat completion from the demo upstream', async () => {
    const r = await openai.chat.completions.create({ model: 'demo-gpt', messages: [{ role: 'user', content: 'What is the capital of France?' }] });
    expect(r.choices[0]?.message.content).toBe('Hello from the Heimdall demo upstream (model demo-gpt): What is the capital of France?');
  });

  it('streams a chat completion', async () => {
    const stream = await openai.chat.completions.create({ model: 'demo-gpt', stream: true, messages: [{ role: 'user', content: 'stream me some words' }] });
    const pieces: string[] = [];
    for await (const chunk of stream) pieces.push(chunk.choices[0]?.delta.content ?? '');
    expect(pieces.join('')).toBe('Hello from the Heimdall demo upstream (model demo-gpt): stream me some words');
    expect(pieces.filter(Boolean).length).toBeGreaterThan(5);
  });

  it('gets a Responses API response, plain and streamed', async () => {
    const plain = await openai.responses.create({ model: 'demo-gpt', input: 'plain responses call' });
    expect(plain.output_text).toBe('Hello from the Heimdall demo upstream (model demo-gpt): plain responses call');

    const stream = await openai.responses.create({ model: 'demo-gpt', input: [{ role: 'user', content: 'streamed responses call' }], stream: true });
    const types: string[] = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
    }
    expect(text).toBe('Hello from the Heimdall demo upstream (model demo-gpt): streamed responses call');
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
  });

  it('gets embeddings and the model list', async () => {
    const e = await openai.embeddings.create({ model: 'demo-embedding', input: ['one', 'two'] });
    expect(e.data).toHaveLength(2);
    expect(e.data[0]?.embedding).toHaveLength(8);
    const models = [];
    for await (const m of openai.models.list()) models.push(m.id);
    expect(models).toContain('demo-gpt');
  });
});

describe('Anthropic SDK through /anthropic', () => {
  it('gets a message from the demo upstream', async () => {
    const m = await anthropic.messages.create({ model: 'demo-claude', max_tokens: 100, messages: [{ role: 'user', content: 'Tell me about bridges' }] });
    expect(m.content[0]?.type === 'text' && m.content[0].text).toBe('Hello from the Heimdall demo upstream (model demo-claude): Tell me about bridges');
  });

  it('streams a message', async () => {
    const stream = anthropic.messages.stream({ model: 'demo-claude', max_tokens: 100, messages: [{ role: 'user', content: 'stream a short answer' }] });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    expect(deltas.join('')).toBe('Hello from the Heimdall demo upstream (model demo-claude): stream a short answer');
    expect(deltas.length).toBeGreaterThan(5);
    expect(final.stop_reason).toBe('end_turn');
  });

  it('counts tokens and lists models', async () => {
    const c = await anthropic.messages.countTokens({ model: 'demo-claude', messages: [{ role: 'user', content: 'count these words please' }] });
    expect(c.input_tokens).toBeGreaterThan(0);
    const models = [];
    for await (const m of anthropic.models.list()) models.push(m.id);
    expect(models).toContain('demo-claude');
  });
});

describe('GenAI through /genai', () => {
  it('answers generateContent', async () => {
    const r = await postJson(`${env.gateway.url}/genai/v1beta/models/demo-gemini:generateContent`, { contents: [{ role: 'user', parts: [{ text: 'Why is the sky blue?' }] }] }, { 'x-goog-api-key': VK });
    expect(r.status).toBe(200);
    expect(r.json.candidates[0].content.parts[0].text).toBe('Hello from the Heimdall demo upstream (model demo-gemini): Why is the sky blue?');
  });

  it('streams streamGenerateContent?alt=sse as SSE events', async () => {
    const r = await postJson(`${env.gateway.url}/genai/v1beta/models/demo-gemini:streamGenerateContent?alt=sse`, { contents: [{ parts: [{ text: 'stream from gemini' }] }] }, { 'x-goog-api-key': VK });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/event-stream');
    type Chunk = { candidates: { content: { parts: { text: string }[] }; finishReason?: string }[] };
    const events = r.text.split('\n\n').filter((s) => s.startsWith('data: ')).map((s) => JSON.parse(s.slice(6)) as Chunk);
    expect(events.length).toBeGreaterThan(5);
    expect(events.map((e) => e.candidates[0]!.content.parts[0]!.text).join('')).toBe('Hello from the Heimdall demo upstream (model demo-gemini): stream from gemini');
    expect(events.at(-1)!.candidates[0]!.finishReason).toBe('STOP');
  });
});

describe('streaming', () => {
  it('forwards SSE chunks as they come, not as one block', async () => {
    const slow = await startGatewayWithDemo({ chunkDelayMs: 30 });
    try {
      const arrivals = await new Promise<string[]>((resolve, reject) => {
        const body = JSON.stringify({ model: 'demo-gpt', stream: true, messages: [{ role: 'user', content: 'one two three four five six' }] });
        const req = http.request(`${slow.gateway.url}/openai/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${VK}`, 'content-length': Buffer.byteLength(body) },
        });
        req.on('response', (res) => {
          const seen: string[] = [];
          res.on('data', (c: Buffer) => seen.push(c.toString('utf8')));
          res.on('end', () => resolve(seen));
        });
        req.on('error', reject);
        req.end(body);
      });
      // 15 pieces 30 ms apart: a buffering gateway would deliver one or two reads.
      expect(arrivals.length).toBeGreaterThanOrEqual(10);
      expect(arrivals.join('')).toContain('data: [DONE]');
    } finally {
      await slow.close();
    }
  });
});
