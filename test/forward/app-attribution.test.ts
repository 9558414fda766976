// The app label sent to the gateway (`x-bf-dim-app`) and used in metrics: every id the identify
// room produces survives it, so the gateway's audit names unknown tools instead of `unknown`.
import { describe, expect, it } from 'vitest';
import { boundedAppId } from '../../agent/src/forward/index.ts';

describe('boundedAppId', () => {
  it('keeps catalog ids and the ids of apps no catalog row names', () => {
    for (const id of ['claude-code', 'codex-cli', 'curl', 'exe:58824afa640f512e', 'exe:path:0123456789abcdef', 'script:node:5a2ca7f97961e450']) {
      expect(boundedAppId(id)).toBe(id);
    }
  });

  it('turns free text, long values and a missing id into `unknown`', () => {
    for (const id of [undefined, '', 'My App', 'a'.repeat(65), 'curl\r\nx-bf-vk: stolen', ':leading-colon', 'app/with/slash']) {
      expect(boundedAppId(id)).toBe('unknown');
    }
  });
});
