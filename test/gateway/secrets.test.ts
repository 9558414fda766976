// Stored secrets are SHA-256 hex digests of their UTF-8 text: every row already in a store was
// written that way, so a change in how the digest is computed must give exactly the same string.
import { describe, expect, it } from 'vitest';
import { hashSecret } from '../../gateway/src/control/index.ts';

describe('hashSecret', () => {
  it('is the SHA-256 hex digest of the UTF-8 text (FIPS 180-2 vectors, and a non-ASCII secret)', () => {
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(hashSecret('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    // 'é' as UTF-8 (c3 a9), not latin1 (e9): sha256(c3 a9).
    expect(hashSecret('\u00e9')).toBe('4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c');
  });
});
