import { describe, expect, it } from 'vitest';
import { finalAnswer, NOT_SIGNED_IN_SENTENCE, providerError } from '../../agent/src/forward/index.ts';
import { BLOCK_ANSWER_ROWS } from '../../protocol/index.ts';
import { blockMessage } from '../../agent/src/policy/index.ts';

const message = (shape: 'openai' | 'anthropic' | 'google', kind: Parameters<typeof providerError>[1], detail: string, support?: string): string => {
  const error = providerError(shape, kind, detail, support);
  // The sentence travels inside the provider's own JSON shape.
  const body = JSON.parse(error.body) as { error: { message: string } };
  expect(body.error.message).toBe(error.message);
  return error.message;
};

describe('provider error messages', () => {
  it('names the support URL once when the policy sentence already points there', () => {
    const sentence = blockMessage({ appName: 'curl', organization: 'Acme', supportUrl: 'https://help.acme.example', reason: 'denied' });
    const text = message('openai', 'blocked', sentence, 'https://help.acme.example');
    expect(text.match(/help\.acme\.example/g)).toHaveLength(1);
    expect(text).toContain('curl is blocked at Acme: an administrator denied it.');
  });

  it('adds the support URL to errors that do not mention it, in every provider shape', () => {
    for (const shape of ['openai', 'anthropic', 'google'] as const) {
      expect(message(shape, 'gateway_unreachable', 'connection refused', 'https://help.acme.example')).toMatch(/Help: https:\/\/help\.acme\.example$/);
    }
  });
});

describe('final answers, per app (protocol/block-answers.ts)', () => {
  const denied = blockMessage({ appName: 'App', appId: 'app', organization: 'Acme', reason: 'denied' });

  it('answers Claude Code 451 in the Anthropic shape: 403 reads there as a sign-in failure', () => {
    const a = finalAnswer('anthropic', 'blocked', denied, undefined, { appId: 'claude-code', transport: 'http' });
    expect(a.status).toBe(451);
    expect(JSON.parse(a.body)).toEqual({ type: 'error', error: { type: 'permission_error', message: denied } });
    expect(a.headers).toEqual({ 'x-should-retry': 'false' });
  });

  it('answers Codex inside its websocket (the upgrade accepted) and 400 with the sentence alone on its SSE leg', () => {
    const ws = finalAnswer('openai', 'not_signed_in', '', undefined, { appId: 'codex-cli', transport: 'websocket' });
    expect(ws).toMatchObject({ status: 101, inBand: 'responses-websocket', body: NOT_SIGNED_IN_SENTENCE });
    const sse = finalAnswer('openai', 'not_signed_in', '', undefined, { appId: 'codex-cli', transport: 'http' });
    expect(sse).toMatchObject({ status: 400, contentType: 'text/plain; charset=utf-8', body: `${NOT_SIGNED_IN_SENTENCE}\n` });
    expect(sse.inBand).toBeUndefined();
  });

  it('answers a blocked Codex model-catalog refresh with an empty catalog, which it merges without logging the sentence', () => {
    const a = finalAnswer('openai', 'blocked', denied, undefined, { appId: 'codex-cli', transport: 'http', path: '/backend-api/codex/models' });
    expect(a).toMatchObject({ status: 200, body: '{"models":[]}', contentType: 'application/json' });
    // Any other path of Codex's is still the 400 it stops at.
    expect(finalAnswer('openai', 'blocked', denied, undefined, { appId: 'codex-cli', transport: 'http', path: '/v1/responses' }).status).toBe(400);
  });

  it('answers Gemini CLI 403 in the Google shape, its code matching the status', () => {
    const a = finalAnswer('google', 'not_signed_in', '', undefined, { appId: 'gemini-cli', transport: 'http' });
    expect(a.status).toBe(403);
    expect(JSON.parse(a.body)).toMatchObject({ error: { code: 403, message: NOT_SIGNED_IN_SENTENCE } });
  });

  it('answers any other app (the SDKs) with the situation status, which their retry rule never retries', () => {
    expect(finalAnswer('openai', 'blocked', denied, undefined, { appId: 'script:node:0123456789abcdef', transport: 'http' }).status).toBe(403);
    expect(finalAnswer('openai', 'not_signed_in', '', undefined, { appId: undefined, transport: 'http' }).status).toBe(401);
  });

  it('gives every row its evidence and no retry-after', () => {
    for (const row of BLOCK_ANSWER_ROWS) {
      expect(row.answer.evidence.length).toBeGreaterThan(10);
      expect(row.answer.retryAfter).toBe(false);
    }
  });
});
