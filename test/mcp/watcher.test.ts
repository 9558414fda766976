// Watching: folders that do not exist yet are covered by their nearest existing parent, changes are
// debounced and only the changed file is read again, and nothing polls.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, writeFile, type Rig } from './helpers.ts';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('watching MCP config files', () => {
  it('sees an app folder created after start and reports the server in it', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50 });
    await rig.governor.start();
    expect(rig.governor.watchedDirs()).toContain(rig.home);
    fs.mkdirSync(path.join(rig.home, '.cursor'));
    fs.writeFileSync(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { late: { command: 'late-server' } } }));
    const inv = await rig.waitForReport((i) => i.servers.some((s) => s.name === 'late'));
    expect(inv.servers.find((s) => s.name === 'late')).toMatchObject({ app: 'cursor', command: 'late-server' });
    expect(rig.governor.watchedDirs()).toContain(path.join(rig.home, '.cursor'));
  });

  it('reports a removed server and a file deleted outright', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50 });
    const file = path.join(rig.home, '.gemini/settings.json');
    writeFile(file, JSON.stringify({ mcpServers: { a: { command: 'a' }, b: { httpUrl: 'https://b.example.com/mcp' } } }));
    await rig.governor.start();
    expect(rig.reports.at(-1)!.servers.map((s) => [s.name, s.transport])).toEqual([['a', 'stdio'], ['b', 'http']]);
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { b: { httpUrl: 'https://b.example.com/mcp' } } }));
    await rig.waitForReport((i) => i.servers.length === 1);
    fs.rmSync(file);
    await rig.waitForReport((i) => i.servers.length === 0);
  });

  it('does not report again when a file is rewritten with the same servers', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50 });
    const file = path.join(rig.home, '.cursor/mcp.json');
    writeFile(file, JSON.stringify({ mcpServers: { a: { command: 'a' } } }));
    await rig.governor.start();
    const count = rig.reports.length;
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { a: { command: 'a' } } }, null, 4));
    fs.writeFileSync(path.join(rig.home, '.cursor/other.json'), '{}');
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { a: { command: 'a' }, b: { command: 'b' } } }));
    await rig.waitForReport((i) => i.servers.length === 2);
    expect(rig.reports.length).toBe(count + 1);
  });
});

describe('a user without a home', () => {
  it('starts with nothing to watch instead of waiting forever for the watcher', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50 });
    const { McpGovernor } = await import('../../agent/src/mcp/index.ts');
    const { silentLogger } = await import('../../agent/src/lib/logger.ts');
    const homeless = new McpGovernor({
      store: rig.store,
      logger: silentLogger(),
      decide: () => ({ verdict: 'allow', status: 'approved' }),
      report: () => undefined,
      audit: () => undefined,
      mode: 'current-user',
      users: [{ ...rig.user, home: path.join(rig.dir, 'no-such-home') }],
      managedRoot: path.join(rig.dir, 'no-such-managed-root'),
      watch: true,
      rescanIntervalMs: 0,
    });
    await homeless.start();
    expect(homeless.watchedDirs()).toEqual([]);
    await homeless.stop();
  });
});
