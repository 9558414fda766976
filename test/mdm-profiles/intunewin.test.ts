import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createDecipheriv, createHash, createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { generateFiles, INTUNEWIN_CONTENT_PATH, INTUNEWIN_DETECTION_PATH, writeFiles } from '../../mdm-profiles/src/index.ts';
import { baseOptions, cleanup, realMsi, tempDir } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => cleanup(dirs));


function generateIntunewin(): { data: Buffer; intunewin: string; dir: string } {
  const dir = tempDir(dirs);
  const file = realMsi(dir);
  const data = readFileSync(file);
  const out = path.join(dir, 'out');
  writeFiles(out, generateFiles(baseOptions({ packages: [file] })));
  return { data, intunewin: path.join(out, 'intune/heimdall-0.1.0-win-x64.intunewin'), dir };
}

function unpack(intunewin: string, dir: string) {
  const outer = path.join(dir, 'outer');
  execFileSync('unzip', ['-q', '-o', intunewin, '-d', outer]); // an independent zip reader
  const detection = new DOMParser().parseFromString(readFileSync(path.join(outer, INTUNEWIN_DETECTION_PATH), 'utf8'), 'text/xml');
  const field = (name: string): string => detection.getElementsByTagName(name)[0]!.textContent!;
  return { encrypted: readFileSync(path.join(outer, INTUNEWIN_CONTENT_PATH)), field };
}

describe('.intunewin', () => {
  it('of a real MSI carries its product code in Detection.xml and the Win32 app\'s detection rule', () => {
    const dir = tempDir(dirs);
    const msi = realMsi(dir, '{6F1B1E0A-4C1D-4E8B-9B0E-3D5A2C7E9F41}');
    const out = path.join(dir, 'out');
    writeFiles(out, generateFiles(baseOptions({ packages: [msi] })));
    const { field } = unpack(path.join(out, 'intune/heimdall-0.1.0-win-x64.intunewin'), dir);
    expect([field('MsiProductCode'), field('MsiProductVersion'), field('MsiUpgradeCode')]).toEqual(['{0A1B2C3D-1111-4222-8333-444455556666}', '0.1.0', '{6F1B1E0A-4C1D-4E8B-9B0E-3D5A2C7E9F41}']);
    const app = JSON.parse(readFileSync(path.join(out, 'intune/win32-app-x64.json'), 'utf8')) as { detectionRule: unknown };
    expect(app.detectionRule).toEqual({ type: 'MSI', productCode: '{0A1B2C3D-1111-4222-8333-444455556666}', productVersionCheck: 'Greater than or equal to', productVersion: '0.1.0' });
    expect(readFileSync(path.join(out, 'intune/README.md'), 'utf8')).toContain('MSI, product code `{0A1B2C3D-1111-4222-8333-444455556666}`');
  });

  it('refuses an MSI whose UpgradeCode is not Heimdall\'s', () => {
    const dir = tempDir(dirs);
    const msi = realMsi(dir, '{11111111-2222-4333-8444-555555555555}');
    expect(() => generateFiles(baseOptions({ packages: [msi] }))).toThrow("its UpgradeCode is {11111111-2222-4333-8444-555555555555}, not Heimdall's {6F1B1E0A-4C1D-4E8B-9B0E-3D5A2C7E9F41}");
  });

  it('round-trips: unzip, check the HMAC, decrypt, check the digest, unzip the setup file byte for byte', () => {
    const { data, intunewin, dir } = generateIntunewin();
    const { encrypted, field } = unpack(intunewin, dir);
    const key = Buffer.from(field('EncryptionKey'), 'base64');
    const macKey = Buffer.from(field('MacKey'), 'base64');
    const iv = Buffer.from(field('InitializationVector'), 'base64');
    expect([key.length, macKey.length, iv.length]).toEqual([32, 32, 16]);
    expect([field('ProfileIdentifier'), field('FileDigestAlgorithm'), field('SetupFile'), field('FileName')]).toEqual(['ProfileVersion1', 'SHA256', 'heimdall-0.1.0-win-x64.msi', 'IntunePackage.intunewin']);

    const [mac, fileIv, ciphertext] = [encrypted.subarray(0, 32), encrypted.subarray(32, 48), encrypted.subarray(48)];
    expect(fileIv).toEqual(iv);
    const expectedMac = createHmac('sha256', macKey).update(encrypted.subarray(32)).digest();
    expect(mac).toEqual(expectedMac);
    expect(Buffer.from(field('Mac'), 'base64')).toEqual(expectedMac);

    const decipher = createDecipheriv('aes-256-cbc', key, iv);
    const inner = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    expect(inner.length).toBe(Number(field('UnencryptedContentSize')));
    expect(createHash('sha256').update(inner).digest('base64')).toBe(field('FileDigest'));
    const innerZip = path.join(dir, 'inner.zip');
    writeFileSync(innerZip, inner);
    execFileSync('unzip', ['-tq', innerZip]); // CRCs check out
    expect(execFileSync('unzip', ['-Z1', innerZip], { encoding: 'utf8' }).trim()).toBe('heimdall-0.1.0-win-x64.msi');
    expect(execFileSync('unzip', ['-p', innerZip, 'heimdall-0.1.0-win-x64.msi'], { maxBuffer: 10_000_000 })).toEqual(data);
  });

  it('a flipped ciphertext byte no longer matches the HMAC (the check above can fail)', () => {
    const { intunewin, dir } = generateIntunewin();
    const { encrypted, field } = unpack(intunewin, dir);
    const tampered = Buffer.from(encrypted);
    tampered[100] = tampered[100]! ^ 1;
    expect(createHmac('sha256', Buffer.from(field('MacKey'), 'base64')).update(tampered.subarray(32)).digest()).not.toEqual(tampered.subarray(0, 32));
  });

  it('uses fresh keys per package, and is not written without an MSI', () => {
    const a = unpack(generateIntunewin().intunewin, tempDir(dirs));
    const b = unpack(generateIntunewin().intunewin, tempDir(dirs));
    expect(a.field('EncryptionKey')).not.toBe(b.field('EncryptionKey'));
    expect(generateFiles(baseOptions()).filter((f) => f.path.endsWith('.intunewin'))).toEqual([]);
  });

  it('refuses a package whose name is not one of the artifact names, saying which names it takes', () => {
    const dir = tempDir(dirs);
    const file = realMsi(dir, undefined, 'setup.msi');
    expect(() => generateFiles(baseOptions({ packages: [file] }))).toThrow(/--package .*setup\.msi: not the name of a Heimdall 0\.1\.0 package; expected one of .*heimdall-0\.1\.0-win-x64\.msi/);
  });
});
