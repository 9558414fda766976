// Adding an app is adding one adapter: a fake app, defined only here and handed to the governor with
// the built-in list, has its configs discovered (home, and projects named by its own records),
// reported, watched and enforced, through its managed policy or an edit of its file. Nothing in the
// room names it.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  flagEdit,
  MCP_APP_ADAPTERS,
  normalizeCommonEntry,
  onEveryOs,
  serversUnder,
  type ConfigLocation,
  type Enforcement,
  type McpAppAdapter,
} from '../../agent/src/mcp/index.ts';
import { makeRig, writeFile, type Rig } from './helpers.ts';

function recentProjects(doc: unknown): string[] {
  const recent = (doc as { recent?: unknown }).recent;
  return Array.isArray(recent) ? recent.filter((p): p is string => typeof p === 'string') : [];
}

/** Acme Agent keeps servers under `servers` in ~/.acme/agent.json and <project>/.acme.json, and its recent projects in ~/.acme/recent.json. */
function acmeAgent(enforcement: Enforcement): McpAppAdapter {
  const file = (scope: 'user' | 'project', rel: string): ConfigLocation => ({
    scope, base: scope === 'user' ? 'home' : 'project', paths: onEveryOs(rel), format: 'jsonc', servers: serversUnder('servers'),
  });
  return {
    id: 'acme-agent',
    configs: [file('user', '.acme/agent.json'), file('project', '.acme.json')],
    projectSources: [
      {
        paths: onEveryOs('.acme/recent.json'), format: 'json',
        projects: recentProjects,
      },
    ],
    normalize: (entry) => normalizeCommonEntry(entry),
    enforcement,
  };
}

const acmePolicy: Enforcement = {
  kind: 'managed-policy',
  place: { linux: { file: 'etc/acme/policy.json' }, darwin: { file: 'Library/Acme/policy.json' }, win32: { file: 'ProgramData/Acme/policy.json' } },
  build: ({ blocked }) => ({ text: blocked.length > 0 ? `${JSON.stringify({ deny: blocked.map((b) => b.server.name).sort() })}\n` : undefined }),
};

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('an app added as one adapter', () => {
  it('is discovered in the home and in the projects its own records name, and reported', async () => {
    rig = await makeRig({ apps: [...MCP_APP_ADAPTERS, acmeAgent(acmePolicy)], platform: 'linux' });
    const project = path.join(rig.dir, 'src/widget');
    writeFile(path.join(rig.home, '.acme/recent.json'), JSON.stringify({ recent: [project, 'relative/ignored'] }));
    writeFile(path.join(rig.home, '.acme/agent.json'), '{ // mine\n "servers": { "docs": { "url": "https://docs.example.com/mcp" } } }');
    writeFile(path.join(project, '.acme.json'), JSON.stringify({ servers: { lint: { command: 'lint-mcp', args: ['--fix'] }, broken: { args: [] } } }));
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { gh: { command: 'gh-mcp' } } }));
    await rig.governor.rescan();

    const inv = rig.reports.at(-1)!;
    expect(inv.servers.map((s) => `${s.app}:${s.scope}:${s.name}`).sort()).toEqual(['acme-agent:project:lint', 'acme-agent:user:docs', 'cursor:user:gh']);
    expect(inv.servers.find((s) => s.name === 'lint')).toMatchObject({ transport: 'stdio', command: 'lint-mcp', args: ['--fix'], configPath: path.join(project, '.acme.json') });
    expect(inv.errors).toEqual([expect.objectContaining({ app: 'acme-agent', code: 'invalid-entry', message: expect.stringContaining('server "broken"') })]);
  });

  it('is enforced through its managed policy, and the policy is removed on approval', async () => {
    rig = await makeRig({ apps: [...MCP_APP_ADAPTERS, acmeAgent(acmePolicy)], platform: 'linux' });
    writeFile(path.join(rig.home, '.acme/agent.json'), JSON.stringify({ servers: { docs: { url: 'https://docs.example.com/mcp' }, fs: { command: 'fs-mcp' } } }));
    await rig.governor.rescan();
    rig.decisions.set(rig.governor.inventory().servers.find((s) => s.name === 'fs')!.fingerprint, 'block');
    await rig.governor.applyPolicy();

    const policy = path.join(rig.managedRoot, 'etc/acme/policy.json');
    expect(JSON.parse(fs.readFileSync(policy, 'utf8'))).toEqual({ deny: ['fs'] });
    expect(rig.governor.list().map((r) => [r.name, r.decision.verdict, r.enforcedHow])).toEqual([['docs', 'allow', 'none'], ['fs', 'block', 'managed-policy']]);
    expect(rig.audits.map((a) => [a.action, a.app, a.path])).toEqual([['policy-written', 'acme-agent', policy]]);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect(fs.existsSync(policy)).toBe(false);
    expect(rig.audits.map((a) => a.action)).toEqual(['policy-written', 'policy-removed']);
  });

  it('is watched and enforced by an edit of its file when it has no managed policy', async () => {
    rig = await makeRig({ apps: [...MCP_APP_ADAPTERS, acmeAgent({ kind: 'file-edit', edit: flagEdit('servers', 'off', true) })], watch: true, debounceMs: 50, manualClock: true });
    const file = path.join(rig.home, '.acme/agent.json');
    const original = '{\n  "servers": {\n    "fs": { "command": "fs-mcp" }\n  }\n}\n';
    writeFile(file, '{}');
    await rig.governor.start();
    expect(rig.governor.watchedDirs()).toContain(path.join(rig.home, '.acme'));

    fs.writeFileSync(file, original);
    await rig.flush();
    const fs0 = rig.reports.at(-1)!.servers.find((s) => s.app === 'acme-agent' && s.name === 'fs')!;
    expect(fs0).toMatchObject({ command: 'fs-mcp', enabled: true });

    rig.decisions.set(fs0.fingerprint, 'block');
    await rig.governor.applyPolicy();
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).servers.fs.off).toBe(true);
    expect(rig.governor.list().find((r) => r.name === 'fs')).toMatchObject({ enforcedHow: 'file-edit', decision: { verdict: 'block' } });
    expect(rig.audits.map((a) => [a.action, a.app])).toEqual([['entry-disabled', 'acme-agent']]);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect(fs.readFileSync(file, 'utf8')).toBe(original);
    expect(rig.audits.map((a) => a.action)).toEqual(['entry-disabled', 'file-restored']);
  });
});
