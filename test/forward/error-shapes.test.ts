import { describe, expect, it } from 'vitest';
import { providerError } from '../../agent/src/forward/index.ts';
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
    expect(text).toContain('curl is not approved for use at Acme (denied by your administrator)');
  });

  it('adds the support URL to errors that do not mention it, in every provider shape', () => {
    for (const shape of ['openai', 'anthropic', 'google'] as const) {
      expect(message(shape, 'gateway_unreachable', 'connection refused', 'https://help.acme.example')).toMatch(/Help: https:\/\/help\.acme\.example$/);
    }
  });
});
