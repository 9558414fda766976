// Users from recorded passwd / dscl output, project folders from the apps' own state, the location
// table, the pure managed-policy builders, and the `heimdall mcp` formatter.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterEach, describe, expect, it } from 'vitest';
import { formatMcpList } from '../../agent/src/cli/commands/mcp.ts';
import { buildClaudeManagedSettings } from '../../agent/src/mcp/apps/claude-code.ts';
import { buildCodexRequirements } from '../../agent/src/mcp/apps/codex.ts';
import { buildGeminiSystemSettings } from '../../agent/src/mcp/apps/gemini-cli.ts';
import { buildVscodeMacPlist, buildVscodePolicyJson, buildVscodeWindowsReg } from '../../agent/src/mcp/apps/vscode.ts';
import { MCP_APP_ADAPTERS } from '../../agent/src/mcp/index.ts';
import { serverMatcher } from '../../agent/src/mcp/managed-policy.ts';
import { filterWindowsProfileNames, parseDsclUsers, parsePasswd } from '../../agent/src/mcp/users.ts';
import { makeRig, writeFile, type Rig } from './helpers.ts';

const fixture = (name: string): string => fs.readFileSync(path.join(import.meta.dirname, '../fixtures/mcp', name), 'utf8');

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('local users', () => {
  it('keeps root and human accounts from /etc/passwd, skipping system, nobody and home-less ones', () => {
    expect(parsePasswd(fixture('passwd.txt')).map((u) => [u.name, u.uid, u.home])).toEqual([
      ['root', 0, '/root'],
      ['alice', 1000, '/home/alice'],
      ['bob', 1001, '/home/bob'],
    ]);
  });

  it('reads macOS users from dscl output, including a value continued on the next line', () => {
    expect(parseDsclUsers(fixture('dscl-users.txt')).map((u) => [u.name, u.uid, u.home])).toEqual([
      ['root', 0, '/var/root'],
      ['carol', 501, '/Users/carol'],
      ['dave', 502, '/Users/dave'],
    ]);
  });

  it('skips the Windows profile folders that are not people', () => {
    expect(filterWindowsProfileNames(['Public', 'Default', 'Default User', 'All Users', 'desktop.ini', 'erin'])).toEqual(['erin']);
  });
});

describe('root mode', () => {
  it('inventories every human user listed in passwd whose home exists, labelled with the user', async () => {
    rig = await makeRig();
    const homes = ['alice', 'bob'].map((n) => path.join(rig!.dir, 'homes', n));
    homes.forEach((h, i) => {
      writeFile(path.join(h, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { [`s${i}`]: { command: `cmd-${i}` } } }));
      fs.chownSync(h, 2000 + i, 2000 + i);
      fs.chownSync(path.join(h, '.cursor'), 2000 + i, 2000 + i);
      fs.chownSync(path.join(h, '.cursor/mcp.json'), 2000 + i, 2000 + i);
    });
    const passwd = path.join(rig.dir, 'passwd');
    fs.writeFileSync(passwd, [
      `alice:x:2000:2000::${homes[0]}:/bin/bash`,
      `bob:x:2001:2001::${homes[1]}:/bin/zsh`,
      `ghost:x:2002:2002::${path.join(rig.dir, 'homes/ghost')}:/bin/bash`,
      'daemon:x:1:1::/usr/sbin:/usr/sbin/nologin',
      '',
    ].join('\n'));
    const { McpGovernor } = await import('../../agent/src/mcp/index.ts');
    const { silentLogger } = await import('../../agent/src/lib/logger.ts');
    const governor = new McpGovernor({
      store: rig.store, logger: silentLogger(), decide: () => ({ verdict: 'allow', status: 'allowed' }), report: () => {}, audit: () => {},
      mode: 'root', platform: 'linux', passwdFile: passwd, managedRoot: rig.managedRoot, watch: false, rescanIntervalMs: 0,
    });
    await governor.rescan();
    const found = governor.inventory().servers.filter((s) => s.app === 'cursor').map((s) => [s.osUser, s.name]);
    expect(found).toEqual([['alice', 's0'], ['bob', 's1']]);
  });
});

describe('project folders come from the apps’ own state', () => {
  it('finds project configs through Claude Code, Codex, VS Code, Cursor and Gemini records, never by crawling', async () => {
    rig = await makeRig();
    const p = (n: string): string => path.join(rig!.dir, 'projects', n);
    for (const n of ['claude', 'codex', 'vscode', 'cursor', 'gemini', 'unknown']) fs.mkdirSync(p(n), { recursive: true });
    writeFile(path.join(rig.home, '.claude.json'), JSON.stringify({ projects: { [p('claude')]: { allowedTools: [] } } }));
    writeFile(path.join(rig.home, '.codex/config.toml'), `[projects."${p('codex')}"]\ntrust_level = "trusted"\n`);
    writeFile(path.join(rig.home, '.config/Code/User/workspaceStorage/abc/workspace.json'), JSON.stringify({ folder: `file://${p('vscode')}` }));
    writeFile(path.join(rig.home, '.config/Cursor/User/workspaceStorage/def/workspace.json'), JSON.stringify({ folder: `file://${p('cursor')}` }));
    writeFile(path.join(rig.home, '.gemini/trustedFolders.json'), JSON.stringify({ [p('gemini')]: 'TRUST_FOLDER', [p('unknown')]: 'DO_NOT_TRUST' }));
    const server = (cmd: string): string => JSON.stringify({ mcpServers: { s: { command: cmd } } });
    writeFile(path.join(p('claude'), '.mcp.json'), server('claude-proj'));
    writeFile(path.join(p('codex'), '.codex/config.toml'), '[mcp_servers.s]\ncommand = "codex-proj"\n');
    writeFile(path.join(p('vscode'), '.vscode/mcp.json'), JSON.stringify({ servers: { s: { type: 'stdio', command: 'vscode-proj' } } }));
    writeFile(path.join(p('cursor'), '.cursor/mcp.json'), server('cursor-proj'));
    writeFile(path.join(p('gemini'), '.gemini/settings.json'), server('gemini-proj'));
    writeFile(path.join(p('unknown'), '.mcp.json'), server('never-found'));
    await rig.governor.rescan();
    expect(rig.governor.inventory().servers.map((s) => `${s.app}:${s.scope}:${s.command}`).sort()).toEqual([
      'claude-code:project:claude-proj',
      'codex:project:codex-proj',
      'cursor:project:cursor-proj',
      'gemini-cli:project:gemini-proj',
      'vscode:project:vscode-proj',
    ]);
  });

  it('has an adapter with user-scope paths for every app on every OS', () => {
    expect(MCP_APP_ADAPTERS.map((a) => a.id)).toEqual(['claude-code', 'claude-desktop', 'cursor', 'vscode', 'codex', 'gemini-cli', 'windsurf', 'opencode']);
    for (const adapter of MCP_APP_ADAPTERS) {
      const rows = adapter.configs.filter((l) => l.scope === 'user');
      for (const os of ['darwin', 'win32', 'linux'] as const) expect(rows.flatMap((r) => r.paths[os]).length, `${adapter.id} on ${os}`).toBeGreaterThan(0);
    }
  });
});

describe('managed policy builders', () => {
  const stdio = { kind: 'stdio' as const, command: 'npx', args: ['-y', 'bad-server'] };
  const remote = { kind: 'remote' as const, url: 'https://mcp.example.com/mcp?token=s3cret' };

  it('matches by exact command and by URL without repeating a credential from the query', () => {
    expect(serverMatcher(stdio)).toEqual({ serverCommand: ['npx', '-y', 'bad-server'] });
    expect(serverMatcher(remote)).toEqual({ serverUrl: 'https://mcp.example.com/mcp*' });
    expect(buildClaudeManagedSettings([stdio, stdio, remote])).not.toContain('s3cret');
    expect(JSON.parse(buildClaudeManagedSettings([stdio, stdio])).deniedMcpServers).toHaveLength(1);
  });

  it('compiles a Codex block into an allow list and keeps an administrator’s other requirements', () => {
    const existing = 'allowed_approval_policies = ["on-request"]\n';
    const built = buildCodexRequirements(existing, [{ name: 'docs', identity: { url: 'https://docs.example.com/mcp' } }, { name: 'fs', identity: { command: 'npx' } }], true);
    expect(parseToml(built.text!)).toEqual({
      allowed_approval_policies: ['on-request'],
      mcp_servers: { docs: { identity: { url: 'https://docs.example.com/mcp' } }, fs: { identity: { command: 'npx' } } },
    });
    expect(buildCodexRequirements(built.text, [], false).text).toContain('allowed_approval_policies');
    expect(buildCodexRequirements(undefined, [], false).text).toBeUndefined();
    expect(buildCodexRequirements(undefined, [{ name: 'x', identity: { command: 'a' } }, { name: 'x', identity: { command: 'b' } }], true).conflicts).toEqual(['x']);
  });

  it('adds and removes only its own names in Gemini’s mcp.excluded, keeping comments', () => {
    const existing = '{\n  // set by IT\n  "mcp": { "excluded": ["admin-banned"] }\n}\n';
    const first = buildGeminiSystemSettings(existing, ['evil'], []);
    expect(first.text).toContain('// set by IT');
    expect(first.text).toMatch(/"admin-banned",\s*"evil"/);
    const second = buildGeminiSystemSettings(first.text, [], first.added);
    expect(second.text).toMatch(/"excluded": \[\s*"admin-banned"\s*\]/);
  });

  it('produces the VS Code ChatDeniedMcpServers policy for Linux, Windows and macOS', async () => {
    const json = JSON.parse(buildVscodePolicyJson('{"UpdateMode":"none"}', [stdio])!);
    expect(json.UpdateMode).toBe('none');
    expect(JSON.parse(json.ChatDeniedMcpServers)).toEqual([{ serverCommand: ['npx', '-y', 'bad-server'] }]);
    expect(buildVscodePolicyJson(undefined, [])).toBeUndefined();
    expect(buildVscodeWindowsReg([stdio])).toContain('[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\VSCode]\r\n"ChatDeniedMcpServers"="[{\\"serverCommand\\"');
    expect(await buildVscodeMacPlist([stdio])).toMatch(/<key>ChatDeniedMcpServers<\/key>\s*<string>\[\{"serverCommand"/);
  });
});

describe('heimdall mcp', () => {
  it('lists app, scope, path, name, fingerprint, decision and how it is enforced; --json gives the rows', async () => {
    rig = await makeRig();
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { gh: { command: 'npx', args: ['gh'] }, ok: { command: 'ok' } } }));
    await rig.governor.rescan();
    rig.decisions.set(rig.governor.inventory().servers.find((s) => s.name === 'gh')!.fingerprint, 'block');
    await rig.governor.applyPolicy();
    const text = formatMcpList(rig.governor.list());
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^APP\s+SCOPE\s+USER\s+NAME\s+FINGERPRINT\s+DECISION\s+ENFORCED\s+PATH$/);
    expect(lines.find((l) => / gh /.test(l))).toMatch(/^cursor\s+user\s+\S+\s+gh\s+[0-9a-f]{12}\s+block \(denied\)\s+file-edit\s+\/.*\.cursor\/mcp\.json$/);
    expect(lines.find((l) => / ok /.test(l))).toMatch(/allow \(allowed\)\s+none/);
    expect(JSON.parse(formatMcpList(rig.governor.list(), { json: true }))).toHaveLength(2);
    expect(formatMcpList([])).toBe('No MCP servers found in the supported apps.\n');
  });
});
