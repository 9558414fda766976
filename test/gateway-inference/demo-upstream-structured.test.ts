// The DEMO upstream answers requests for structured output with JSON that fits the schema, so apps
// that route or plan with it (Gemini CLI's model router) get a usable answer instead of retrying.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream } from '../../gateway/src/demo-upstream/index.ts';

let demo: Awaited<ReturnType<typeof startDemoUpstream>>;
beforeAll(async () => {
  demo = await startDemoUpstream({ keys: { openai: 'o', anthropic: 'a', genai: 'g' } });
});
afterAll(() => demo.close());

async function generate(generationConfig: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${demo.url}/v1beta/models/demo-gemini:generateContent`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': 'g' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'route me' }] }], generationConfig }),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as { candidates: { content: { parts: { text: string }[] } }[] };
  return body.candidates[0]!.content.parts[0]!.text;
}

describe('DEMO upstream structured output', () => {
  it('fills a JSON schema with values that satisfy enums and minimums', async () => {
    const text = await generate({
      responseMimeType: 'application/json',
      responseJsonSchema: {
        type: 'object',
        properties: {
          reasoning: { type: 'string' },
          complexity_score: { type: 'integer', minimum: 1, maximum: 100 },
          model_choice: { type: 'string', enum: ['flash', 'pro'] },
          steps: { type: 'array', items: { type: 'string' } },
        },
      },
    });
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed).toMatchObject({ complexity_score: 1, model_choice: 'flash' });
    expect(parsed['reasoning']).toContain('Hello from the Heimdall demo upstream');
    expect(parsed['steps']).toHaveLength(1);
  });

  it('accepts Google schema types and still answers prose without a JSON request', async () => {
    expect(JSON.parse(await generate({ responseMimeType: 'application/json', responseSchema: { type: 'OBJECT', properties: { ok: { type: 'BOOLEAN' } } } }))).toEqual({ ok: false });
    expect(await generate({})).toMatch(/^Hello from the Heimdall demo upstream/);
  });
});
