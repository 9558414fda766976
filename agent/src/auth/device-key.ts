// The device key pair that proves this machine to the gateway (docs/protocol.md "Device identity"):
// made once, at first enrollment, in the OS key store where one is reachable. One interface, one
// implementation per store, chosen once at start: the Keychain on macOS, CNG (the TPM's Platform
// Crypto Provider when present) on Windows, and the daemon's root-only state directory on Linux.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isSymlink, writeFileAtomic } from '../lib/private-fs.ts';

export interface DeviceKey {
  /** SubjectPublicKeyInfo DER in base64, as the protocol sends it. */
  readonly publicKey: string;
  /** Signs `data` the way the protocol verifies it (Ed25519, or P-256/SHA-256 in IEEE P1363 form). */
  sign(data: Buffer): Promise<Buffer>;
}

export interface DeviceKeyStore {
  /** Where the private key lives, for status and logs. */
  readonly kind: 'file' | 'keychain' | 'cng';
  /** The device key, created on first use and the same one after. */
  loadOrCreate(): Promise<DeviceKey>;
}

/** A key held in this process (file and Keychain stores): Ed25519, signed with node:crypto. */
export function inProcessKey(privateKey: KeyObject): DeviceKey {
  const publicKey = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).toString('base64');
  return { publicKey, sign: (data) => Promise.resolve(sign(null, data, privateKey)) };
}

export function newEd25519Pkcs8(): Buffer {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
}

export const DEVICE_KEY_FILE = 'device-key.pem';

/**
 * The root-only store: a PKCS#8 PEM file, 0600, in the daemon's 0700 state directory (Linux, and
 * development runs with --state-dir). Nothing but root reads it; a symlink in its place is refused.
 */
export class FileDeviceKeyStore implements DeviceKeyStore {
  readonly kind = 'file' as const;
  readonly #file: string;
  #key: Promise<DeviceKey> | undefined;

  constructor(stateDir: string) {
    this.#file = path.join(stateDir, DEVICE_KEY_FILE);
  }

  loadOrCreate(): Promise<DeviceKey> {
    this.#key ??= this.#load();
    const pending = this.#key;
    pending.catch(() => {
      if (this.#key === pending) this.#key = undefined;
    });
    return pending;
  }

  async #load(): Promise<DeviceKey> {
    if (await isSymlink(this.#file)) throw new Error(`${this.#file} is a symbolic link; the device key must be a plain file in the state directory`);
    let pem: string | undefined;
    try {
      pem = readFileSync(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (pem === undefined) {
      pem = createPrivateKey({ key: newEd25519Pkcs8(), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
      await writeFileAtomic(this.#file, pem, { mode: 0o600 });
    }
    try {
      return inProcessKey(createPrivateKey(pem));
    } catch {
      throw new Error(`${this.#file} does not hold a private key; move it aside and have an administrator reset this device at the gateway (heimdall-gateway devices reset)`);
    }
  }
}
