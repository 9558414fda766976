// The provider error table writes each provider's own envelope, so an app's SDK parses the
// gateway's refusals like the provider's.
import { describe, expect, it } from 'vitest';
import { providerError } from '../../gateway/src/inference/index.ts';

describe('providerError', () => {
  it('writes the OpenAI envelope', () => {
    const e = providerError('openai', 'authentication', 'bad key');
    expect(e.status).toBe(401);
    expect(JSON.parse(e.body)).toEqual({ error: { message: 'bad key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
  });

  it('writes the Anthropic envelope', () => {
    const e = providerError('anthropic', 'timeout', 'slow');
    expect(e.status).toBe(504);
    expect(JSON.parse(e.body)).toEqual({ type: 'error', error: { type: 'timeout_error', message: 'slow' } });
  });

  it('writes the Google envelope', () => {
    const e = providerError('google', 'permission', 'no');
    expect(e.status).toBe(403);
    expect(JSON.parse(e.body)).toEqual({ error: { code: 403, message: 'no', status: 'PERMISSION_DENIED' } });
  });
});
