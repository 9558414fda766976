// The key that encrypts user tokens at rest (token-vault.ts): 32 random bytes made once, kept where
// the OS keeps machine secrets. One interface, one implementation per store, chosen once at start:
// the System keychain on macOS, DPAPI with machine scope on Windows, systemd-creds on Linux when
// present (TPM2-sealed where the machine has one, else under the host key in
// /var/lib/systemd/credential.secret), else a 0600 file in the root-only state directory.
// Why a key store at all on a root-only directory: a copy of the state directory (a backup, a disk
// image, a support bundle) then holds no usable token; only this machine's key store opens it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isSymlink, writeFileAtomic } from '../lib/private-fs.ts';

export const VAULT_KEY_BYTES = 32;

export interface VaultKeySource {
  /** Where the key lives, for status and docs (never the key). */
  readonly kind: 'file' | 'systemd-creds' | 'keychain' | 'dpapi';
  /** The 32-byte key, created on first use and the same one after. */
  loadOrCreate(): Promise<Buffer>;
}

/** A fresh key. */
export function newVaultKey(): Buffer {
  return randomBytes(VAULT_KEY_BYTES);
}

/** The key from its base64 text, or an error naming where it came from (never the text). */
export function parseVaultKey(text: string, where: string): Buffer {
  const value = text.trim();
  const key = /^[A-Za-z0-9+/]{43}=$/.test(value) ? Buffer.from(value, 'base64') : undefined;
  if (key?.length !== VAULT_KEY_BYTES) throw new Error(`${where} does not hold a ${VAULT_KEY_BYTES}-byte base64 vault key`);
  return key;
}

/** Caches one load; a failed load is tried again on the next call. */
export function once(load: () => Promise<Buffer>): () => Promise<Buffer> {
  let pending: Promise<Buffer> | undefined;
  return () => {
    const p = (pending ??= load());
    p.catch(() => {
      if (pending === p) pending = undefined;
    });
    return p;
  };
}

export const VAULT_KEY_FILE = 'vault.key';

/** Linux without systemd-creds, and development runs with --state-dir: a 0600 file beside the store. */
export class FileVaultKey implements VaultKeySource {
  readonly kind = 'file' as const;
  readonly #file: string;
  readonly loadOrCreate: () => Promise<Buffer>;

  constructor(stateDir: string) {
    this.#file = path.join(stateDir, VAULT_KEY_FILE);
    this.loadOrCreate = once(() => this.#load());
  }

  async #load(): Promise<Buffer> {
    if (await isSymlink(this.#file)) throw new Error(`${this.#file} is a symbolic link; the vault key must be a plain file in the state directory`);
    try {
      return parseVaultKey(readFileSync(this.#file, 'utf8'), this.#file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const key = newVaultKey();
    await writeFileAtomic(this.#file, `${key.toString('base64')}\n`, { mode: 0o600 });
    return key;
  }
}
