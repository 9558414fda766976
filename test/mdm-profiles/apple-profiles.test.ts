import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateFiles, uuidV5, writeFiles, type GeneratedFile } from '../../mdm-profiles/src/index.ts';
import { APPLE_SCHEMAS, baseOptions, cleanup, parseWithPlistlib, tempDir, throwawayCa, validateProfile } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => cleanup(dirs));

const profilesOf = (files: GeneratedFile[]): GeneratedFile[] => files.filter((f) => f.path.endsWith('.mobileconfig') && !f.path.includes('/signed/'));

type Profile = Record<string, unknown> & { PayloadContent: Array<Record<string, unknown>> };

function parsedProfiles(files: GeneratedFile[]): Map<string, Profile> {
  const dir = tempDir(dirs);
  writeFiles(dir, files);
  return new Map(profilesOf(files).map((f) => [path.basename(f.path, '.mobileconfig'), parseWithPlistlib(path.join(dir, f.path)) as Profile]));
}

function uuidsOf(profiles: Map<string, Profile>): string[] {
  return [...profiles.values()].flatMap((p) => [p['PayloadUUID'] as string, ...p.PayloadContent.map((x) => x['PayloadUUID'] as string)]);
}

describe('macOS configuration profiles', () => {
  const appFiles = (dir: string) => {
    const claude = path.join(dir, 'managed-settings.json');
    writeFileSync(claude, JSON.stringify({ env: { HTTPS_PROXY: 'http://127.0.0.1:7420' }, permissions: { deny: ['WebFetch'] } }));
    return [{ app: 'claude-code', file: claude, text: readFileSync(claude, 'utf8') }, { app: 'codex', file: 'requirements.toml', text: 'allowed_approval_policies = ["on-request"]\n' }];
  };

  it('every profile is a well-formed plist that an independent parser reads, and every payload passes Apple\'s schema', () => {
    const dir = tempDir(dirs);
    const ca = throwawayCa(dir, 'Acme Fleet CA');
    const files = generateFiles(baseOptions({ caPem: ca.certPem, teamId: 'ABCDE12345', appSettings: appFiles(dir) }));
    const out = tempDir(dirs);
    writeFiles(out, files);
    const names = profilesOf(files).map((f) => path.basename(f.path, '.mobileconfig'));
    expect(names).toEqual(['heimdall-ca', 'heimdall-settings', 'heimdall-login-items', 'heimdall-proxy', 'heimdall-quic-off', 'heimdall-app-claude-code', 'heimdall-app-codex']);
    // plutil -lint's checks, offline: well-formed XML valid against Apple's plist DTD.
    execFileSync('xmllint', ['--noout', '--nonet', '--dtdvalid', path.join(APPLE_SCHEMAS, 'PropertyList-1.0.dtd'), ...[...profilesOf(files), files.find((f) => f.path === 'macos/io.heimdall.agent.plist')!].map((f) => path.join(out, f.path))]);
    for (const [name, profile] of parsedProfiles(files)) {
      expect(validateProfile(profile), name).toEqual([]);
      expect(profile['PayloadScope']).toBe('System');
    }
  });

  it('the DTD check rejects a plist whose dict breaks the key/value alternation', () => {
    const dir = tempDir(dirs);
    const bad = path.join(dir, 'bad.plist');
    writeFileSync(bad, '<?xml version="1.0"?><plist version="1.0"><dict><key>a</key><key>b</key><string>c</string></dict></plist>');
    expect(() => execFileSync('xmllint', ['--noout', '--nonet', '--dtdvalid', path.join(APPLE_SCHEMAS, 'PropertyList-1.0.dtd'), bad], { stdio: 'pipe' })).toThrow();
  });

  it('the schema validator catches what Apple\'s schema forbids (so the pass above means something)', () => {
    const profiles = parsedProfiles(generateFiles(baseOptions()));
    const proxy = structuredClone(profiles.get('heimdall-proxy')!);
    proxy.PayloadContent[0]!['ProxyType'] = 'Automatic';
    delete proxy['PayloadVersion'];
    const login = structuredClone(profiles.get('heimdall-login-items')!);
    (login.PayloadContent[0]!['Rules'] as Array<Record<string, unknown>>)[0]!['RuleType'] = 'Path';
    expect(validateProfile(proxy)).toEqual(expect.arrayContaining([expect.stringContaining('"Automatic" is not one of'), 'profile: required key PayloadVersion is missing']));
    expect(validateProfile(login)).toEqual([expect.stringContaining('"Path" is not one of')]);
  });

  it('carries the CA\'s DER, the PAC URL, managed login-item rules and QUIC off', () => {
    const dir = tempDir(dirs);
    const ca = throwawayCa(dir, 'Acme Fleet CA');
    const profiles = parsedProfiles(generateFiles(baseOptions({ caPem: ca.certPem, teamId: 'ABCDE12345' })));
    const der = execFileSync('openssl', ['x509', '-in', ca.certFile, '-outform', 'DER']);
    expect(profiles.get('heimdall-ca')!.PayloadContent[0]!['PayloadContent']).toEqual({ $data: der.toString('base64') });
    expect(profiles.get('heimdall-proxy')!.PayloadContent[0]).toMatchObject({ ProxyType: 'Auto', ProxyPACURL: 'http://127.0.0.1:7420/proxy.pac' });
    expect(profiles.get('heimdall-login-items')!.PayloadContent[0]!['Rules']).toEqual([
      { RuleType: 'Label', RuleValue: 'io.heimdall.agent', Comment: 'Heimdall daemon', TeamIdentifier: 'ABCDE12345' },
      { RuleType: 'Label', RuleValue: 'io.heimdall.agent.helper', Comment: 'Heimdall per-user helper', TeamIdentifier: 'ABCDE12345' },
      { RuleType: 'TeamIdentifier', RuleValue: 'ABCDE12345', Comment: 'Heimdall releases' },
    ]);
    const quic = profiles.get('heimdall-quic-off')!.PayloadContent[0]!['PayloadContent'];
    expect(quic).toEqual({
      'com.google.Chrome': { Forced: [{ mcx_preference_settings: { QuicAllowed: false } }] },
      'com.microsoft.Edge': { Forced: [{ mcx_preference_settings: { QuicAllowed: false } }] },
    });
  });

  it('in local-CA mode deploys no CA profile and sets ca_mode local', () => {
    const profiles = parsedProfiles(generateFiles(baseOptions()));
    expect(profiles.has('heimdall-ca')).toBe(false);
    const settings = profiles.get('heimdall-settings')!.PayloadContent[0]!['PayloadContent'] as Record<string, { Forced: Array<{ mcx_preference_settings: Record<string, unknown> }> }>;
    expect(settings['io.heimdall.agent']!.Forced[0]!.mcx_preference_settings['ca_mode']).toBe('local');
  });

  it('derives name-based UUIDs as RFC 9562 version 5 does (its published DNS example)', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ED6657D-E927-568B-95E1-2665A8AEA6A2');
  });

  it('puts each app\'s own managed settings in its domain: Claude Code\'s keys as they are, Codex\'s requirements as base64 TOML', () => {
    const dir = tempDir(dirs);
    const profiles = parsedProfiles(generateFiles(baseOptions({ appSettings: appFiles(dir) })));
    const domainOf = (name: string) => profiles.get(name)!.PayloadContent[0]!['PayloadContent'] as Record<string, { Forced: Array<{ mcx_preference_settings: Record<string, unknown> }> }>;
    expect(domainOf('heimdall-app-claude-code')['com.anthropic.claudecode']!.Forced[0]!.mcx_preference_settings).toEqual({ env: { HTTPS_PROXY: 'http://127.0.0.1:7420' }, permissions: { deny: ['WebFetch'] } });
    const codex = domainOf('heimdall-app-codex')['com.openai.codex']!.Forced[0]!.mcx_preference_settings;
    expect(Buffer.from(codex['requirements_toml_base64'] as string, 'base64').toString('utf8')).toBe('allowed_approval_policies = ["on-request"]\n');
  });

  it('PayloadUUIDs are stable across runs, unique within a deployment, and differ across organizations', () => {
    const first = uuidsOf(parsedProfiles(generateFiles(baseOptions())));
    const again = uuidsOf(parsedProfiles(generateFiles(baseOptions({ gatewayUrl: 'https://other-gw.acme.example' }))));
    const otherOrg = uuidsOf(parsedProfiles(generateFiles(baseOptions({ organization: 'Globex' }))));
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
    for (const u of first) expect(u).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    expect(otherOrg.filter((u) => first.includes(u))).toEqual([]);
  });

  it('signs each profile as CMS that openssl verifies against the signing certificate and that holds the profile unchanged', () => {
    const dir = tempDir(dirs);
    const signer = throwawayCa(dir, 'Acme Profile Signing');
    const files = generateFiles(baseOptions({ signing: { certPem: signer.certPem, keyPem: signer.keyPem } }));
    const out = tempDir(dirs);
    writeFiles(out, files);
    const signed = files.filter((f) => f.path.includes('/signed/'));
    expect(signed.map((f) => path.basename(f.path))).toEqual(profilesOf(files).map((f) => path.basename(f.path)));
    for (const f of signed) {
      const content = execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', path.join(out, f.path), '-CAfile', signer.certFile, '-purpose', 'any'], { stdio: ['ignore', 'pipe', 'pipe'] });
      expect(content.toString('utf8')).toBe(readFileSync(path.join(out, f.path.replace('/signed/', '/')), 'utf8'));
    }
    // A different CA must not verify it.
    const stranger = throwawayCa(dir, 'Someone Else');
    expect(() => execFileSync('openssl', ['cms', '-verify', '-binary', '-inform', 'DER', '-in', path.join(out, signed[0]!.path), '-CAfile', stranger.certFile, '-purpose', 'any'], { stdio: 'pipe' })).toThrow();
  });
});
