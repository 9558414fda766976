// Shared by the MDM tests: a throwaway fleet CA and signing cert (openssl), a generated deployment
// in a temporary folder, and a validator for Apple's payload schemas (shared/reference YAML).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { GenerateOptions } from '../../mdm-profiles/src/index.ts';

export const APPLE_SCHEMAS = path.resolve(import.meta.dirname, '../fixtures/apple-device-management');

export function tempDir(dirs: string[], prefix = 'heimdall-mdm-'): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanup(dirs: string[]): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Throwaway {
  certPem: string;
  keyPem: string;
  certFile: string;
  keyFile: string;
}

/** A fresh self-signed CA made by openssl (an independent implementation from the generator's). */
export function throwawayCa(dir: string, cn: string): Throwaway {
  const certFile = path.join(dir, `${cn.replace(/\W/g, '-')}.pem`);
  const keyFile = path.join(dir, `${cn.replace(/\W/g, '-')}.key`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'], { stdio: 'ignore' });
  return { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), certFile, keyFile };
}

export function baseOptions(overrides: Partial<GenerateOptions> = {}): GenerateOptions {
  return { gatewayUrl: 'https://ai-gw.acme.example', organization: 'Acme Corp', supportUrl: 'https://help.acme.example/ai', version: '0.1.0', outLabel: 'out', ...overrides };
}

export const HEIMDALL_UPGRADE_CODE = '{6F1B1E0A-4C1D-4E8B-9B0E-3D5A2C7E9F41}';

/** A real (tiny) MSI built by wixl, with the given codes. */
export function realMsi(dir: string, upgradeCode = HEIMDALL_UPGRADE_CODE, name = 'heimdall-0.1.0-win-x64.msi'): string {
  // Random bytes of an installer's size, so the round trip moves real data.
  writeFileSync(path.join(dir, 'heimdall.exe'), Buffer.concat([Buffer.from('MZ'), randomBytes(300_000)]));
  writeFileSync(path.join(dir, 'p.wxs'), `<?xml version="1.0"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{0A1B2C3D-1111-4222-8333-444455556666}" Name="Heimdall" Language="1033" Version="0.1.0" Manufacturer="Heimdall" UpgradeCode="${upgradeCode}">
    <Package InstallerVersion="200" Compressed="yes" InstallScope="perMachine"/>
    <Media Id="1" Cabinet="p.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir"><Directory Id="ProgramFiles64Folder"><Directory Id="INSTALLDIR" Name="Heimdall">
      <Component Id="Exe" Guid="{7E1B2C3D-1111-4222-8333-444455556666}" Win64="yes"><File Id="Exe" Source="heimdall.exe"/></Component>
    </Directory></Directory></Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Exe"/></Feature>
  </Product>
</Wix>`);
  const msi = path.join(dir, name);
  execFileSync('wixl', ['-a', 'x64', '-o', msi, path.join(dir, 'p.wxs')], { cwd: dir, stdio: 'pipe' });
  return msi;
}

// ---- Apple's payload schemas ----

interface SchemaKey {
  key: string;
  type: string;
  presence?: 'required' | 'optional';
  rangelist?: unknown[];
  subkeys?: SchemaKey[];
}

interface SchemaFile {
  payload: { payloadtype: string };
  payloadkeys: SchemaKey[];
}

function loadSchema(file: string): SchemaFile {
  const p = path.join(APPLE_SCHEMAS, file);
  if (!existsSync(p)) throw new Error(`Apple schema ${p} is missing from test/fixtures/apple-device-management`);
  return parseYaml(readFileSync(p, 'utf8')) as SchemaFile;
}

export function schemaFor(payloadType: string): SchemaFile {
  return loadSchema(`${payloadType}.yaml`);
}

// plistlib's JSON marks data and dates as {$data} / {$date}; the generator's own objects use Buffer / Date.
const isMarked = (v: unknown, mark: string): boolean => v !== null && typeof v === 'object' && Object.keys(v).length === 1 && mark in v;

const TYPE_CHECKS: Record<string, (v: unknown) => boolean> = {
  '<string>': (v) => typeof v === 'string',
  '<integer>': (v) => typeof v === 'number' && Number.isInteger(v),
  '<real>': (v) => typeof v === 'number',
  '<boolean>': (v) => typeof v === 'boolean',
  '<data>': (v) => Buffer.isBuffer(v) || isMarked(v, '$data'),
  '<date>': (v) => v instanceof Date || isMarked(v, '$date'),
  '<array>': (v) => Array.isArray(v),
  '<dictionary>': (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date) && !isMarked(v, '$data') && !isMarked(v, '$date'),
  '<any>': () => true,
};

/** Problems of one dictionary against a list of schema keys (strict: unknown keys are problems). */
export function validateDict(value: Record<string, unknown>, keys: readonly SchemaKey[], where: string): string[] {
  const problems: string[] = [];
  const any = keys.find((k) => k.key === 'ANY');
  for (const k of keys) {
    if (k.key === 'ANY') continue;
    if (k.presence === 'required' && !(k.key in value)) problems.push(`${where}: required key ${k.key} is missing`);
  }
  for (const [name, v] of Object.entries(value)) {
    const k = keys.find((s) => s.key === name) ?? any;
    if (!k) {
      problems.push(`${where}: key ${name} is not in the schema`);
      continue;
    }
    problems.push(...validateValue(v, k, `${where}.${name}`));
  }
  return problems;
}

function validateValue(v: unknown, k: SchemaKey, where: string): string[] {
  const check = TYPE_CHECKS[k.type];
  if (!check) return [`${where}: schema type ${k.type} unknown to this validator`];
  if (!check(v)) return [`${where}: expected ${k.type}, got ${JSON.stringify(v)}`];
  if (k.rangelist && !k.rangelist.includes(v)) return [`${where}: ${JSON.stringify(v)} is not one of ${JSON.stringify(k.rangelist)}`];
  if (k.type === '<dictionary>' && k.subkeys) return validateDict(v as Record<string, unknown>, k.subkeys, where);
  if (k.type === '<array>' && k.subkeys?.[0]) {
    const item = k.subkeys[0];
    return (v as unknown[]).flatMap((x, i) => validateValue(x, item, `${where}[${i}]`));
  }
  return [];
}

/** Validates a whole profile: TopLevel keys, then each payload against CommonPayloadKeys + its own schema. */
export function validateProfile(profile: Record<string, unknown>): string[] {
  const top = loadSchema('TopLevel.yaml');
  const problems = validateDict(profile, top.payloadkeys, 'profile');
  const common = loadSchema('CommonPayloadKeys.yaml').payloadkeys;
  for (const [i, payload] of ((profile['PayloadContent'] as Record<string, unknown>[] | undefined) ?? []).entries()) {
    const type = payload['PayloadType'] as string;
    const own = schemaFor(type).payloadkeys;
    // The payload's own keys win where both define one (PayloadContent's type differs per payload).
    const merged = [...own, ...common.filter((c) => !own.some((o) => o.key === c.key))];
    problems.push(...validateDict(payload, merged, `payload[${i}] ${type}`));
  }
  return problems;
}

/** Parses a plist with Python's plistlib (an independent parser that rejects malformed plists). */
export function parseWithPlistlib(file: string): unknown {
  const script = `import plistlib, json, base64, sys, datetime
def enc(o):
    if isinstance(o, bytes): return {"$data": base64.b64encode(o).decode()}
    if isinstance(o, datetime.datetime): return {"$date": o.isoformat()}
    raise TypeError(type(o))
with open(sys.argv[1], "rb") as f: print(json.dumps(plistlib.load(f), default=enc))`;
  const out = execFileSync('python3', ['-c', script, file], { encoding: 'utf8' });
  return JSON.parse(out) as unknown;
}
