// The shape of a Bifrost virtual key, checked before anything is sent anywhere, so a pasted
// provider key (`sk-proj-...`, `sk-ant-...`) never leaves the machine by mistake.
import { LoginError } from './errors.ts';

const VIRTUAL_KEY = /^sk-bf-[A-Za-z0-9._~-]{8,200}$/;

/** The key without surrounding whitespace; throws LoginError('invalid_key_format') naming what is wrong, never echoing it. */
export function parseVirtualKey(input: string): string {
  const key = input.trim();
  if (key === '') throw new LoginError('invalid_key_format', 'no virtual key given: paste the key that starts with sk-bf-');
  if (!key.startsWith('sk-bf-')) {
    throw new LoginError(
      'invalid_key_format',
      'that is not a virtual key: a virtual key starts with sk-bf- (provider keys such as sk-proj- or sk-ant- are not accepted here)',
    );
  }
  if (!VIRTUAL_KEY.test(key)) {
    throw new LoginError('invalid_key_format', 'the virtual key is malformed: expected sk-bf- followed by 8-200 letters, digits, ".", "_", "~" or "-"');
  }
  return key;
}

export function isVirtualKey(input: string): boolean {
  return VIRTUAL_KEY.test(input);
}
