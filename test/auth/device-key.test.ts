// The device key stores: the root-only file store for real (Linux, development), and the pure parts
// of the Keychain (macOS) and CNG (Windows) stores: command lines, scripts, and the parsing of what
// those tools print, checked against keys node:crypto makes the same way.
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cngPublicKeyScript,
  cngSignScript,
  DEVICE_KEY_FILE,
  eccPublicBlobToSpki,
  FileDeviceKeyStore,
  keychainAddScript,
  keychainFindArgs,
  parseCngSignature,
  parseKeychainFind,
} from '../../agent/src/auth/index.ts';
import { checkDevicePublicKey, deviceProofText, verifyDeviceProof } from '../../protocol/index.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'heimdall-device-key-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('FileDeviceKeyStore', () => {
  it('makes one Ed25519 key, 0600, and gives the same key to the next process', async () => {
    const dir = tempDir();
    const first = await new FileDeviceKeyStore(dir).loadOrCreate();
    expect(lstatSync(path.join(dir, DEVICE_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = await new FileDeviceKeyStore(dir).loadOrCreate();
    expect(again.publicKey).toBe(first.publicKey);
    expect(checkDevicePublicKey(first.publicKey)).toMatchObject({ ok: true, algorithm: 'ed25519' });
    const text = deviceProofText('token', 'c1.1.n.m', 'dev-1');
    expect(verifyDeviceProof(first.publicKey, text, (await again.sign(text)).toString('base64'))).toBe(true);
  });

  it('refuses a symlink in place of the key file, and a file that holds no key', async () => {
    const linked = tempDir();
    writeFileSync(path.join(linked, 'elsewhere.pem'), 'x');
    symlinkSync(path.join(linked, 'elsewhere.pem'), path.join(linked, DEVICE_KEY_FILE));
    await expect(new FileDeviceKeyStore(linked).loadOrCreate()).rejects.toThrow(/symbolic link/);
    const garbage = tempDir();
    writeFileSync(path.join(garbage, DEVICE_KEY_FILE), 'not a key', { mode: 0o600 });
    await expect(new FileDeviceKeyStore(garbage).loadOrCreate()).rejects.toThrow(/does not hold a private key.*devices reset/);
  });
});

describe('Keychain store (macOS), pure part', () => {
  it('keeps the key off the command line: argv names the item, the key goes to security -i on stdin', () => {
    const pkcs8 = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    const argv = keychainFindArgs();
    expect(argv).toEqual(['find-generic-password', '-s', 'com.heimdall.agent.device-key', '-a', 'device', '-w', '/Library/Keychains/System.keychain']);
    const script = keychainAddScript(pkcs8);
    expect(script).toBe(`add-generic-password -U -s com.heimdall.agent.device-key -a device -l "Heimdall device key" -w ${pkcs8} /Library/Keychains/System.keychain\n`);
    expect(() => keychainAddScript('a b; rm -rf /')).toThrow(/not base64/);
    expect(parseKeychainFind(`${pkcs8}\n`).toString('base64')).toBe(pkcs8);
    expect(() => parseKeychainFind('password: "oops"')).toThrow(/does not hold a base64 key/);
  });
});

describe('CNG store (Windows), pure part', () => {
  it('turns a BCRYPT_ECCPUBLIC_BLOB into the SPKI node:crypto makes for the same P-256 key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const jwk = publicKey.export({ format: 'jwk' });
    // The blob CNG exports: magic "ECS1", 32-byte coordinates, then X and Y.
    const header = Buffer.alloc(8);
    header.writeUInt32LE(0x31534345, 0);
    header.writeUInt32LE(32, 4);
    const blob = Buffer.concat([header, Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    const spki = eccPublicBlobToSpki(blob);
    expect(spki.equals(publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
    expect(checkDevicePublicKey(spki.toString('base64'))).toMatchObject({ ok: true, algorithm: 'p256' });
    // ECDsaCng.SignData prints r||s (IEEE P1363), which is what the gateway verifies.
    const text = deviceProofText('enroll', 'c1.1.n.m', 'dev-win');
    const printed = sign('sha256', text, { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64');
    expect(verifyDeviceProof(spki.toString('base64'), text, parseCngSignature(`${printed}\r\n`).toString('base64'))).toBe(true);
    expect(() => parseCngSignature(Buffer.alloc(70).toString('base64'))).toThrow(/70-byte signature/);
    const p384 = Buffer.concat([Buffer.from('45435333', 'hex'), Buffer.alloc(4 + 64)]);
    expect(() => eccPublicBlobToSpki(p384)).toThrow(/P-256/);
    expect(createPublicKey({ key: spki, format: 'der', type: 'spki' }).asymmetricKeyType).toBe('ec');
  });

  it('asks for a machine key, non-exportable, TPM provider first, and signs the data it is given', () => {
    const open = cngPublicKeyScript();
    expect(open).toContain("'Microsoft Platform Crypto Provider', 'Microsoft Software Key Storage Provider'");
    expect(open).toContain('ExportPolicy = [System.Security.Cryptography.CngExportPolicies]::None');
    expect(open).toContain('CngKeyCreationOptions]::MachineKey');
    expect(open).toContain('EccPublicBlob');
    const data = Buffer.from("heimdall-device-proof-v1\ntoken\nc1'; evil\ndev");
    const signScript = cngSignScript(data);
    // The data is inlined only as base64, so nothing in it reaches PowerShell as code.
    expect(signScript).toContain(`FromBase64String('${data.toString('base64')}')`);
    expect(signScript).not.toContain('evil');
  });
});
