// Encryption of tokens at rest: AES-256-GCM under the vault key (vault-key*.ts), a fresh 96-bit IV
// per value, and the row's owner and column as additional data, so a ciphertext moved to another
// user's row or column does not open. The store holds only `v1.<iv>.<tag>.<ciphertext>` (base64url).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { VAULT_KEY_BYTES } from './vault-key.ts';

const VERSION = 'v1';

export class VaultError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VaultError';
  }
}

export class TokenVault {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== VAULT_KEY_BYTES) throw new VaultError(`the vault key must be ${VAULT_KEY_BYTES} bytes, got ${key.length}`);
    this.#key = Buffer.from(key);
  }

  /** `plaintext` sealed for the place it is stored (`context`, e.g. `sso:alice:refresh_token`). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  /** The plaintext, or a VaultError that names the context (never the value) when it does not open. */
  open(sealed: string, context: string): string {
    const [version, iv, tag, body, extra] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || body === undefined || extra !== undefined) {
      throw new VaultError(`the stored ${context} is not a sealed value of this version`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new VaultError(`the stored ${context} does not open with this machine's vault key (another key, or tampered)`);
    }
  }
}
