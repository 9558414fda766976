// The `inference` config section: provider keys come only from the environment, and every mistake
// is reported with the config key, the file and the variable to set.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { InferenceConfigError, loadProviderConfig } from '../../gateway/src/inference/index.ts';

const src = { source: '/etc/heimdall-gateway/config.json' };

describe('loadProviderConfig', () => {
  it('resolves env.NAME keys and fills in defaults', () => {
    const cfg = loadProviderConfig({ providers: { openai: { api_key: 'env.OPENAI_API_KEY' } } }, { ...src, env: { OPENAI_API_KEY: 'sk-real-1' } });
    const openai = cfg.providers.openai;
    expect(openai?.kind).toBe('provider');
    if (openai?.kind !== 'provider') throw new Error('unreachable');
    expect(openai.baseUrl.href).toBe('https://api.openai.com/');
    expect(openai.apiKey?.reveal()).toBe('sk-real-1');
    expect(cfg.providers.anthropic).toBeUndefined();
    expect(cfg.timeouts).toEqual({ connectMs: 10_000, headersMs: 300_000, idleMs: 300_000 });
  });

  it('names the provider and the variable when the variable is missing', () => {
    expect(() => loadProviderConfig({ providers: { anthropic: { api_key: 'env.ANTHROPIC_API_KEY' } } }, { ...src, env: {} })).toThrow(
      new InferenceConfigError(
        'config key `inference.providers.anthropic.api_key` in /etc/heimdall-gateway/config.json: environment variable ANTHROPIC_API_KEY (the anthropic provider key) is not set; set it in the gateway\'s environment and restart',
      ),
    );
  });

  it('refuses a key written in the file', () => {
    expect(() => loadProviderConfig({ providers: { openai: { api_key: 'sk-live-abc' } } }, { ...src, env: {} })).toThrow(
      /`inference\.providers\.openai\.api_key` in .*config\.json: .*env\.OPENAI_API_KEY/,
    );
  });

  it('names unknown keys, bad URLs and bad timeouts', () => {
    expect(() => loadProviderConfig({ providers: { mistral: {} } }, src)).toThrow(/`inference\.providers`.*mistral/);
    expect(() => loadProviderConfig({ providers: { openai: { base_url: 'ftp://x' } } }, src)).toThrow(/inference\.providers\.openai/);
    expect(() => loadProviderConfig({ timeouts: { idle_ms: 0 } }, src)).toThrow(/`inference\.timeouts\.idle_ms`/);
    expect(() => loadProviderConfig({ providers: { chatgpt: { api_key: 'env.X' } } }, { ...src, env: { X: 'y' } })).toThrow(/chatgpt has no organisation key/);
  });

  it('sends every provider without its own entry to a top-level bifrost_url', () => {
    const cfg = loadProviderConfig({ bifrost_url: 'https://bifrost.internal', providers: { openai: { api_key: 'env.K' } } }, { env: { K: 'v' } });
    expect(cfg.providers.openai?.kind).toBe('provider');
    expect(cfg.providers.anthropic).toEqual({ kind: 'bifrost', bifrostUrl: new URL('https://bifrost.internal') });
    expect(cfg.providers.chatgpt?.kind).toBe('bifrost');
  });

  it('never prints or serialises a resolved key', () => {
    const cfg = loadProviderConfig({ providers: { genai: { api_key: 'env.G' } } }, { env: { G: 'AIza-very-secret' } });
    expect(JSON.stringify(cfg)).not.toContain('AIza-very-secret');
    expect(inspect(cfg, { depth: 10 })).not.toContain('AIza-very-secret');
    expect(String(cfg.providers.genai?.kind === 'provider' && cfg.providers.genai.apiKey)).not.toContain('AIza');
  });
});
