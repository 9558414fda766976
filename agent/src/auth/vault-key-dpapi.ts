// The vault key under Windows DPAPI with machine scope (CRYPTPROTECT_LOCAL_MACHINE through .NET's
// ProtectedData, DataProtectionScope.LocalMachine): the state directory (SYSTEM and Administrators
// only) holds the protected blob; only this machine unprotects it. The data (key or blob) goes on
// stdin, never argv. The pure part (scripts) is tested on any OS; the spawning part is thin.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../lib/private-fs.ts';
import { newVaultKey, once, parseVaultKey, type VaultKeySource } from './vault-key.ts';

export const DPAPI_BLOB_FILE = 'vault-key.dpapi';
// A fixed entropy: not a secret, it keeps another program's machine-scope blob from being ours.
const ENTROPY = 'heimdall-vault-key-v1';

const HEADER = `$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.Security
$entropy = [System.Text.Encoding]::UTF8.GetBytes('${ENTROPY}')
$scope = [System.Security.Cryptography.DataProtectionScope]::LocalMachine
`;

/** PowerShell that protects the base64 key given on its first stdin line and prints the blob in base64. */
export function dpapiProtectScript(): string {
  return `${HEADER}$in = [Convert]::FromBase64String([Console]::In.ReadLine())
[Console]::Out.Write([Convert]::ToBase64String([System.Security.Cryptography.ProtectedData]::Protect($in, $entropy, $scope)))
`;
}

/** PowerShell that unprotects the base64 blob given on its first stdin line and prints the key in base64. */
export function dpapiUnprotectScript(): string {
  return `${HEADER}$in = [Convert]::FromBase64String([Console]::In.ReadLine())
[Console]::Out.Write([Convert]::ToBase64String([System.Security.Cryptography.ProtectedData]::Unprotect($in, $entropy, $scope)))
`;
}

/**
 * argv of powershell.exe running `script` (no secret in it) as an encoded command; the data it works
 * on goes on stdin, never argv (other users see argv in the process list).
 */
export function powershellArgs(script: string): string[] {
  return ['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', Buffer.from(script, 'utf16le').toString('base64')];
}

function powershell(script: string, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('powershell.exe', powershellArgs(script), { timeout: 30_000 }, (err, stdout) => {
      if (err) reject(new Error(`DPAPI via powershell failed: ${err.message.split('\n')[0]}`));
      else resolve(stdout.trim());
    });
    child.stdin?.end(`${data}\n`);
  });
}

export class DpapiVaultKey implements VaultKeySource {
  readonly kind = 'dpapi' as const;
  readonly #file: string;
  readonly loadOrCreate: () => Promise<Buffer>;

  constructor(stateDir: string) {
    this.#file = path.win32.join(stateDir, DPAPI_BLOB_FILE);
    this.loadOrCreate = once(async () => {
      if (existsSync(this.#file)) return parseVaultKey(await powershell(dpapiUnprotectScript(), readFileSync(this.#file, 'utf8').trim()), this.#file);
      const key = newVaultKey();
      const blob = await powershell(dpapiProtectScript(), key.toString('base64'));
      await writeFileAtomic(this.#file, `${blob}\n`, { mode: 0o600 });
      return key;
    });
  }
}
