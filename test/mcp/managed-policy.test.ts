import { parse as parseToml } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import type { ManagedPolicyEnforcement, PolicyServer } from '../../agent/src/mcp/app-adapter.ts';
import { codex } from '../../agent/src/mcp/apps/codex.ts';
import { buildGeminiSystemSettings } from '../../agent/src/mcp/apps/gemini-cli.ts';
import { buildVscodePolicyJson } from '../../agent/src/mcp/apps/vscode.ts';
import { carriesSecret, LocalFingerprints, type ServerIdentity } from '../../agent/src/mcp/fingerprint.ts';
import { buildOwnerDenyList, serverMatcher, shareableMatcher } from '../../agent/src/mcp/managed-policy.ts';

describe('managed policy builders with nothing to block', () => {
  it('writes no Gemini system settings file when none exists and nothing is excluded', () => {
    expect(buildGeminiSystemSettings(undefined, [], [])).toEqual({ text: undefined, added: [] });
  });

  it('leaves an existing Gemini settings file without an mcp list as it is', () => {
    const existing = '{\n  // admin comment\n  "ui": { "theme": "dark" }\n}\n';
    expect(buildGeminiSystemSettings(existing, [], []).text).toBe(existing);
  });

  it('treats an empty Gemini settings file as an empty document', () => {
    expect(buildGeminiSystemSettings('', ['shadow-fs'], []).text).toContain('"shadow-fs"');
  });

  it('removes the list it added once nothing is blocked any more', () => {
    const blocked = buildGeminiSystemSettings('{"ui": {}}', ['shadow-fs'], []);
    const cleared = buildGeminiSystemSettings(blocked.text, [], blocked.added);
    expect(JSON.parse(cleared.text!)).toEqual({ ui: {} });
  });

  it('writes no VS Code policy file when none exists and nothing is blocked', () => {
    expect(buildVscodePolicyJson(undefined, [])).toBeUndefined();
  });
});

describe('which file a block goes to', () => {
  const local = new LocalFingerprints(Buffer.alloc(32, 7));
  const server = (identity: ServerIdentity, exact = true): PolicyServer => ({
    server: { name: 'x', transport: identity.kind === 'stdio' ? 'stdio' : 'http', enabled: true },
    identity,
    carriesSecret: carriesSecret(identity),
    exact,
    localFingerprint: local.identity(identity),
  });

  it('puts * in place of a token in a URL path, so a remote block is always shareable', () => {
    const tokenInPath = { kind: 'remote' as const, url: 'https://mcp.example.com/t/Zk8qP2xR7vLm3nB9wQ4tY6uH/sse' };
    expect(serverMatcher(tokenInPath)).toEqual({ serverUrl: 'https://mcp.example.com/t/*/sse*' });
    expect(shareableMatcher(server(tokenInPath))).toBe(true);
    expect(shareableMatcher(server({ kind: 'stdio', command: 'pg-mcp', args: ['--password', 'hunter2'] }))).toBe(false);
    expect(shareableMatcher(server({ kind: 'stdio', command: 'npx', args: ['-y', 'pg-mcp', '--password', '${PGPASSWORD}'] }))).toBe(true);
  });

  it('keeps the entry written for a server restored from the store, whose secret it no longer has', () => {
    const exact = server({ kind: 'stdio', command: 'pg-mcp', args: ['--password', 'hunter2'] });
    const first = buildOwnerDenyList('deniedMcpServers', { existing: undefined, blocked: [exact], previousContribution: undefined, local });
    expect(first.text).toContain('hunter2');
    expect(JSON.stringify(first.contribution)).not.toContain('hunter2');
    const restored = { ...exact, identity: { kind: 'stdio' as const, command: 'pg-mcp', args: ['--password', 'hmac:0123456789ab'] }, exact: false };
    const again = buildOwnerDenyList('deniedMcpServers', { existing: first.text, blocked: [restored], previousContribution: first.contribution, local });
    expect(again.text).toBe(first.text);
    const cleared = buildOwnerDenyList('deniedMcpServers', { existing: first.text, blocked: [], previousContribution: first.contribution, local });
    expect(JSON.parse(cleared.text!)).toEqual({});
  });

  it('refuses to edit an owner settings file that does not parse', () => {
    expect(() => buildOwnerDenyList('deniedMcpServers', { existing: '{ "model": ', blocked: [], previousContribution: undefined, local })).toThrow(/does not parse/);
  });

  it('leaves a Codex server whose URL carries a credential out of the world-readable allow list, and says so', () => {
    const blocked = server({ kind: 'stdio', command: 'bad', args: [] });
    const withKey: PolicyServer = { ...server({ kind: 'remote', url: 'https://mcp.example.com/mcp?key=s3cret' }), server: { name: 'keyed', transport: 'http', url: 'https://mcp.example.com/mcp?key=s3cret', enabled: true } };
    const plain: PolicyServer = { ...server({ kind: 'stdio', command: 'npx', args: ['ok'] }), server: { name: 'plain', transport: 'stdio', command: 'npx', args: ['ok'], enabled: true } };
    const enforcement = codex.enforcement as ManagedPolicyEnforcement;
    const out = enforcement.build({ existing: undefined, servers: [blocked, withKey, plain], blocked: [blocked], previousContribution: undefined, writtenBefore: false });
    expect(out.text).not.toContain('s3cret');
    expect(parseToml(out.text!)).toEqual({ mcp_servers: { plain: { identity: { command: 'npx' } } } });
    expect(out.note).toMatch(/allowed but not listed.*keyed/);
  });
});
