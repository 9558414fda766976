// Apps without a managed policy: Heimdall edits the user's own file (Cursor, Windsurf: disabled;
// OpenCode: enabled=false; Claude Desktop: quarantine key), restores it byte for byte on approval,
// keeps mode and owner, and the watcher re-applies a block the user undoes.
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, writeFile, type Rig } from './helpers.ts';

const UID = 4242;

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** A home owned by an unprivileged uid, as the root daemon finds it. */
async function userRig(watch = false): Promise<Rig> {
  const r = await makeRig({ watch, debounceMs: 80, manualClock: true });
  r.user.uid = UID;
  r.user.gid = UID;
  fs.chownSync(r.home, UID, UID);
  return r;
}

function own(file: string, mode = 0o640): void {
  let d = path.dirname(file);
  while (d.startsWith(rig!.home) && d !== rig!.home) {
    fs.chownSync(d, UID, UID);
    d = path.dirname(d);
  }
  fs.chownSync(file, UID, UID);
  fs.chmodSync(file, mode);
}

const CURSOR = `{
  // my servers
  "mcpServers": {
    "github": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"], "env": { "GITHUB_TOKEN": "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" } },
    "fs":     { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/srv"] },
  }
}
`;

describe.runIf(process.getuid?.() === 0)('user-file enforcement', () => {
  it('disables a blocked Cursor entry, keeps mode and owner, and restores the exact bytes on approval', async () => {
    rig = await userRig();
    const file = path.join(rig.home, '.cursor/mcp.json');
    writeFile(file, CURSOR);
    own(file);
    await rig.governor.rescan();
    const gh = rig.governor.inventory().servers.find((s) => s.name === 'github')!;
    rig.decisions.set(gh.fingerprint, 'block');
    await rig.governor.applyPolicy();

    const edited = fs.readFileSync(file, 'utf8');
    expect(edited).toContain('// my servers');
    const doc = parseJsonc(edited);
    expect(doc.mcpServers.github.disabled).toBe(true);
    expect(doc.mcpServers.fs.disabled).toBeUndefined();
    expect(edited).toContain('"fs":     { "command": "npx"'); // the other entry keeps its bytes
    const st = fs.statSync(file);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([UID, UID, 0o640]);
    expect(rig.governor.list().find((r) => r.name === 'github')).toMatchObject({ enforcedHow: 'file-edit', enabled: false, decision: { verdict: 'block' } });
    expect(rig.audits.map((a) => a.action)).toEqual(['entry-disabled']);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect(fs.readFileSync(file, 'utf8')).toBe(CURSOR);
    expect(fs.statSync(file).uid).toBe(UID);
    expect(rig.audits.map((a) => a.action)).toEqual(['entry-disabled', 'file-restored']);
  });

  it('re-applies the block when the user removes it, through the watcher', async () => {
    rig = await userRig(true);
    const file = path.join(rig.home, '.codeium/windsurf/mcp_config.json');
    writeFile(file, JSON.stringify({ mcpServers: { remote: { serverUrl: 'https://mcp.example.com/sse' } } }, null, 2));
    own(file, 0o600);
    await rig.governor.start();
    const fp = rig.governor.inventory().servers[0]!.fingerprint;
    rig.decisions.set(fp, 'block');
    await rig.governor.applyPolicy();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).mcpServers.remote.disabled).toBe(true);

    // The user takes the flag out again (editor-style save: write a temp file, rename over).
    const undone = JSON.stringify({ mcpServers: { remote: { serverUrl: 'https://mcp.example.com/sse', disabled: false } } }, null, 2);
    fs.writeFileSync(`${file}.swp`, undone);
    fs.chownSync(`${file}.swp`, UID, UID); // written by the user, not by root
    fs.renameSync(`${file}.swp`, file);
    // Net inventory does not change (the block is back before the report), so look at the audit trail.
    await rig.flush();
    expect(rig.audits.map((a) => a.action)).toContain('re-applied');
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).mcpServers.remote.disabled).toBe(true);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    // Heimdall's flag is gone again; the entry is enabled.
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).mcpServers.remote.disabled).toBeUndefined();
    expect(rig.governor.inventory().servers[0]!.enabled).toBe(true);
  });

  it('sets enabled=false for OpenCode and quarantines Claude Desktop entries, both restored exactly', async () => {
    rig = await userRig();
    const oc = path.join(rig.home, '.config/opencode/opencode.jsonc');
    const ocText = '{\n  "$schema": "https://opencode.ai/config.json",\n  "mcp": {\n    "jira": { "type": "remote", "url": "https://jira.example.com/mcp", "enabled": true }\n  }\n}\n';
    const cd = path.join(rig.home, '.config/Claude/claude_desktop_config.json');
    const cdText = '{\n  "mcpServers": {\n    "sqlite": { "command": "uvx", "args": ["mcp-server-sqlite", "--db-path", "/tmp/x.db"] }\n  }\n}\n';
    writeFile(oc, ocText);
    writeFile(cd, cdText);
    own(oc, 0o644);
    own(cd, 0o600);
    await rig.governor.rescan();
    for (const s of rig.governor.inventory().servers) rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();

    expect(JSON.parse(fs.readFileSync(oc, 'utf8')).mcp.jira.enabled).toBe(false);
    const quarantined = JSON.parse(fs.readFileSync(cd, 'utf8'));
    expect(quarantined.mcpServers).toEqual({});
    expect(quarantined.heimdallQuarantinedMcpServers.sqlite.command).toBe('uvx');
    // Still in the inventory (disabled), so it can be approved later.
    expect(rig.governor.inventory().servers.map((s) => [s.app, s.name, s.enabled]).sort()).toEqual([
      ['claude-desktop', 'sqlite', false],
      ['opencode', 'jira', false],
    ]);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect(fs.readFileSync(oc, 'utf8')).toBe(ocText);
    expect(fs.readFileSync(cd, 'utf8')).toBe(cdText);
  });
});
