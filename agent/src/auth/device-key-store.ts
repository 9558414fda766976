// Which store holds the device key on this machine, chosen once at start (docs/security.md).
import { CngDeviceKeyStore } from './device-key-cng.ts';
import { KeychainDeviceKeyStore } from './device-key-keychain.ts';
import { FileDeviceKeyStore, type DeviceKeyStore } from './device-key.ts';

/**
 * The OS key store for a machine-wide daemon; the state directory's file for development runs with
 * `--state-dir` (an unprivileged process can write neither the System keychain nor a machine CNG key).
 */
export function deviceKeyStoreFor(options: { platform: NodeJS.Platform; stateDir: string; machineWide: boolean }): DeviceKeyStore {
  if (options.machineWide && options.platform === 'darwin') return new KeychainDeviceKeyStore();
  if (options.machineWide && options.platform === 'win32') return new CngDeviceKeyStore();
  return new FileDeviceKeyStore(options.stateDir);
}
