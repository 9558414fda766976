// The vault key in the macOS System keychain: a generic-password item readable by root only, like the
// device key (device-key-keychain.ts). The pure part builds the `security` argv and the `security -i`
// script (the key on stdin, never argv); the spawning part is a thin shell around /usr/bin/security.
import { execFile, spawn } from 'node:child_process';
import { KEYCHAIN_NOT_FOUND_EXIT, SYSTEM_KEYCHAIN } from './device-key-keychain.ts';
import { newVaultKey, once, parseVaultKey, type VaultKeySource } from './vault-key.ts';

export const VAULT_KEYCHAIN_SERVICE = 'com.heimdall.agent.vault-key';
export const VAULT_KEYCHAIN_ACCOUNT = 'tokens';

/** argv for `security` that prints the stored key. */
export function vaultKeychainFindArgs(): string[] {
  return ['find-generic-password', '-s', VAULT_KEYCHAIN_SERVICE, '-a', VAULT_KEYCHAIN_ACCOUNT, '-w', SYSTEM_KEYCHAIN];
}

/** The stdin of `security -i` that stores the key. */
export function vaultKeychainAddScript(keyBase64: string): string {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(keyBase64)) throw new Error('the vault key to store is not 32 bytes of base64');
  return `add-generic-password -U -s ${VAULT_KEYCHAIN_SERVICE} -a ${VAULT_KEYCHAIN_ACCOUNT} -l "Heimdall token vault key" -w ${keyBase64} ${SYSTEM_KEYCHAIN}\n`;
}

export class KeychainVaultKey implements VaultKeySource {
  readonly kind = 'keychain' as const;
  readonly loadOrCreate = once(async () => {
    const found = await findKey();
    if (found) return found;
    const key = newVaultKey();
    await storeKey(vaultKeychainAddScript(key.toString('base64')));
    return key;
  });
}

function findKey(): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/security', vaultKeychainFindArgs(), { timeout: 10_000 }, (err, stdout) => {
      if (err && (err as { code?: unknown }).code === KEYCHAIN_NOT_FOUND_EXIT) return resolve(undefined);
      if (err) return reject(new Error(`security find-generic-password failed: ${err.message.split('\n')[0]}`));
      try {
        resolve(parseVaultKey(stdout, `the keychain item ${VAULT_KEYCHAIN_SERVICE}`));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  });
}

function storeKey(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/security', ['-i'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString().slice(0, 500)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`security -i could not store the vault key (exit ${code}): ${stderr.split('\n')[0]}`))));
    child.stdin.end(script);
  });
}
