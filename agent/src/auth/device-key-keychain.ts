// The device key in the macOS System keychain: a generic-password item holding the Ed25519 key
// (PKCS#8, base64), readable by root only. The pure part builds `security` command lines and the
// `security -i` script (the key travels on stdin, never on argv) and parses the answers; the
// spawning part below is a thin shell around /usr/bin/security.
import { execFile, spawn } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { inProcessKey, newEd25519Pkcs8, type DeviceKey, type DeviceKeyStore } from './device-key.ts';

export const KEYCHAIN_SERVICE = 'com.heimdall.agent.device-key';
export const KEYCHAIN_ACCOUNT = 'device';
export const SYSTEM_KEYCHAIN = '/Library/Keychains/System.keychain';
/** `security` exits with errSecItemNotFound's low byte when the item does not exist. */
export const KEYCHAIN_NOT_FOUND_EXIT = 44;

/** argv for `security` that prints the stored key. */
export function keychainFindArgs(): string[] {
  return ['find-generic-password', '-s', KEYCHAIN_SERVICE, '-a', KEYCHAIN_ACCOUNT, '-w', SYSTEM_KEYCHAIN];
}

/** The stdin of `security -i` that stores the key: in interactive mode the secret is never on a command line. */
export function keychainAddScript(pkcs8Base64: string): string {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(pkcs8Base64)) throw new Error('the device key to store is not base64');
  return `add-generic-password -U -s ${KEYCHAIN_SERVICE} -a ${KEYCHAIN_ACCOUNT} -l "Heimdall device key" -w ${pkcs8Base64} ${SYSTEM_KEYCHAIN}\n`;
}

/** The key from `find-generic-password -w` output, or an error naming what came back. */
export function parseKeychainFind(stdout: string): Buffer {
  const value = stdout.trim();
  if (!/^[A-Za-z0-9+/]{40,}={0,2}$/.test(value)) throw new Error('the keychain item com.heimdall.agent.device-key does not hold a base64 key');
  return Buffer.from(value, 'base64');
}

export class KeychainDeviceKeyStore implements DeviceKeyStore {
  readonly kind = 'keychain' as const;
  #key: Promise<DeviceKey> | undefined;

  loadOrCreate(): Promise<DeviceKey> {
    this.#key ??= this.#load();
    return this.#key;
  }

  async #load(): Promise<DeviceKey> {
    let pkcs8 = await findInKeychain();
    if (pkcs8 === undefined) {
      pkcs8 = newEd25519Pkcs8();
      await runSecurityScript(keychainAddScript(pkcs8.toString('base64')));
    }
    return inProcessKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }));
  }
}

function findInKeychain(): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/security', keychainFindArgs(), { timeout: 10_000 }, (err, stdout) => {
      if (err && (err as { code?: unknown }).code === KEYCHAIN_NOT_FOUND_EXIT) return resolve(undefined);
      if (err) return reject(new Error(`security find-generic-password failed: ${err.message.split('\n')[0]}`));
      try {
        resolve(parseKeychainFind(stdout));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

function runSecurityScript(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/security', ['-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString().slice(0, 500)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`security -i could not store the device key (exit ${code}): ${stderr.split('\n')[0]}`))));
    child.stdin.end(script);
  });
}
