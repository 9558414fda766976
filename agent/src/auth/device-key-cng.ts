// The device key in Windows CNG: a machine-wide, non-exportable ECDSA P-256 key created in the
// Microsoft Platform Crypto Provider (the TPM) when the machine has one, else in the Software Key
// Storage Provider. The private key never leaves CNG; PowerShell (.NET's CngKey and ECDsaCng) opens
// it, exports the public blob and signs. The pure part (scripts, blob and signature parsing) is
// tested on any OS; the spawning part is a thin shell around powershell.exe, the script on stdin.
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import type { DeviceKey, DeviceKeyStore } from './device-key.ts';

export const CNG_KEY_NAME = 'Heimdall Device Key';
/** BCRYPT_ECDSA_PUBLIC_P256_MAGIC ("ECS1"). */
const ECS1 = 0x31534345;

const OPEN_OR_CREATE = `
$ErrorActionPreference = 'Stop'
Add-Type -AssemblyName System.Core
$name = '${CNG_KEY_NAME}'
$opts = [System.Security.Cryptography.CngKeyOpenOptions]::MachineKey
$key = $null
foreach ($p in @('Microsoft Platform Crypto Provider', 'Microsoft Software Key Storage Provider')) {
  $provider = New-Object System.Security.Cryptography.CngProvider($p)
  if ([System.Security.Cryptography.CngKey]::Exists($name, $provider, $opts)) { $key = [System.Security.Cryptography.CngKey]::Open($name, $provider, $opts); break }
}
if ($key -eq $null) {
  foreach ($p in @('Microsoft Platform Crypto Provider', 'Microsoft Software Key Storage Provider')) {
    try {
      $params = New-Object System.Security.Cryptography.CngKeyCreationParameters
      $params.Provider = New-Object System.Security.Cryptography.CngProvider($p)
      $params.KeyCreationOptions = [System.Security.Cryptography.CngKeyCreationOptions]::MachineKey
      $params.ExportPolicy = [System.Security.Cryptography.CngExportPolicies]::None
      $key = [System.Security.Cryptography.CngKey]::Create([System.Security.Cryptography.CngAlgorithm]::ECDsaP256, $name, $params)
      break
    } catch { $key = $null }
  }
}
if ($key -eq $null) { throw 'no CNG provider could create the device key' }
`;

/** PowerShell (read from stdin) that opens or creates the key and prints its public blob in base64. */
export function cngPublicKeyScript(): string {
  return `${OPEN_OR_CREATE}
[Console]::Out.Write([Convert]::ToBase64String($key.Export([System.Security.Cryptography.CngKeyBlobFormat]::EccPublicBlob)))
`;
}

/** PowerShell that signs `data` (inlined as base64: it is a public challenge text) and prints the P1363 signature in base64. */
export function cngSignScript(data: Buffer): string {
  return `${OPEN_OR_CREATE}
$ecdsa = New-Object System.Security.Cryptography.ECDsaCng($key)
$ecdsa.HashAlgorithm = [System.Security.Cryptography.CngAlgorithm]::Sha256
[Console]::Out.Write([Convert]::ToBase64String($ecdsa.SignData([Convert]::FromBase64String('${data.toString('base64')}'))))
`;
}

/** A BCRYPT_ECCKEY_BLOB (P-256 public) as SubjectPublicKeyInfo DER. */
export function eccPublicBlobToSpki(blob: Buffer): Buffer {
  if (blob.length !== 8 + 64) throw new Error(`CNG public key blob has ${blob.length} bytes; a P-256 one has 72`);
  if (blob.readUInt32LE(0) !== ECS1 || blob.readUInt32LE(4) !== 32) throw new Error('CNG public key blob is not a P-256 ECDSA public key (magic ECS1, 32-byte coordinates)');
  const jwk = { kty: 'EC', crv: 'P-256', x: blob.subarray(8, 40).toString('base64url'), y: blob.subarray(40, 72).toString('base64url') };
  return createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'spki' });
}

/** The signature printed by cngSignScript: 64 bytes r||s. */
export function parseCngSignature(stdout: string): Buffer {
  const sig = Buffer.from(stdout.trim(), 'base64');
  if (sig.length !== 64) throw new Error(`CNG returned a ${sig.length}-byte signature; a P-256 one is 64 bytes (r||s)`);
  return sig;
}

export class CngDeviceKeyStore implements DeviceKeyStore {
  readonly kind = 'cng' as const;
  #key: Promise<DeviceKey> | undefined;

  loadOrCreate(): Promise<DeviceKey> {
    this.#key ??= (async () => {
      const blob = Buffer.from((await powershell(cngPublicKeyScript())).trim(), 'base64');
      const publicKey = eccPublicBlobToSpki(blob).toString('base64');
      return { publicKey, sign: async (data: Buffer) => parseCngSignature(await powershell(cngSignScript(data))) };
    })();
    return this.#key;
  }
}

function powershell(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', '-'], { timeout: 30_000, windowsHide: true }, (err, stdout) => {
      if (err) return reject(new Error(`the CNG device key could not be used: ${err.message.split('\n')[0]}`));
      resolve(stdout);
    });
    child.stdin?.end(script);
  });
}
