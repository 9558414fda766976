// Which store holds the vault key on this machine, chosen once at start (docs/security.md).
import { DpapiVaultKey } from './vault-key-dpapi.ts';
import { KeychainVaultKey } from './vault-key-keychain.ts';
import { hasSystemdCreds, SystemdCredsVaultKey } from './vault-key-systemd.ts';
import { FileVaultKey, type VaultKeySource } from './vault-key.ts';

/**
 * The OS key store for a machine-wide daemon; the state directory's file for development runs with
 * `--state-dir` (an unprivileged process can use neither the System keychain, machine DPAPI nor the
 * host credential key) and on Linux without systemd-creds.
 */
export function vaultKeySourceFor(options: { platform: NodeJS.Platform; stateDir: string; machineWide: boolean; systemdCreds?: () => boolean }): VaultKeySource {
  if (options.machineWide && options.platform === 'darwin') return new KeychainVaultKey();
  if (options.machineWide && options.platform === 'win32') return new DpapiVaultKey(options.stateDir);
  if (options.machineWide && options.platform === 'linux' && (options.systemdCreds ?? hasSystemdCreds)()) return new SystemdCredsVaultKey(options.stateDir);
  return new FileVaultKey(options.stateDir);
}
