// Watching: folders that do not exist yet are covered by their nearest existing parent, changes are
// debounced and only the changed file is read again, and nothing polls. The governor runs on a
// manual clock: a test moves it past the debounce (rig.flush) instead of sleeping.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRig, until, writeFile, type Rig } from './helpers.ts';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('watching MCP config files', () => {
  it('sees an app folder created after start and reports the server in it', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50, manualClock: true });
    await rig.governor.start();
    expect(rig.governor.watchedDirs()).toContain(rig.home);
    fs.mkdirSync(path.join(rig.home, '.cursor'));
    fs.writeFileSync(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { late: { command: 'late-server' } } }));
    await rig.flush();
    const inv = await rig.waitForReport((i) => i.servers.some((s) => s.name === 'late'));
    expect(inv.servers.find((s) => s.name === 'late')).toMatchObject({ app: 'cursor', command: 'late-server' });
    expect(rig.governor.watchedDirs()).toContain(path.join(rig.home, '.cursor'));
  });

  it('reports a removed server and a file deleted outright', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50, manualClock: true });
    const file = path.join(rig.home, '.gemini/settings.json');
    writeFile(file, JSON.stringify({ mcpServers: { a: { command: 'a' }, b: { httpUrl: 'https://b.example.com/mcp' } } }));
    await rig.governor.start();
    expect(rig.reports.at(-1)!.servers.map((s) => [s.name, s.transport])).toEqual([['a', 'stdio'], ['b', 'http']]);
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { b: { httpUrl: 'https://b.example.com/mcp' } } }));
    await rig.flush();
    expect(rig.reports.at(-1)!.servers.map((s) => s.name)).toEqual(['b']);
    fs.rmSync(file);
    await rig.flush();
    expect(rig.reports.at(-1)!.servers).toEqual([]);
  });

  it('waits for the debounce before reading a changed file again', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50, manualClock: true });
    const file = path.join(rig.home, '.cursor/mcp.json');
    writeFile(file, JSON.stringify({ mcpServers: { a: { command: 'a' } } }));
    await rig.governor.start();
    const count = rig.reports.length;
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { a: { command: 'a' }, b: { command: 'b' } } }));
    await until(() => rig!.clock!.pendingTimers > 0, 'the change reaches the governor');
    rig.clock!.advance(49);
    await rig.governor.idle();
    expect(rig.reports.length).toBe(count);
    rig.clock!.advance(1);
    await rig.governor.idle();
    expect(rig.reports.at(-1)!.servers.map((s) => s.name)).toEqual(['a', 'b']);
  });

  it('does not report again when a file is rewritten with the same servers', async () => {
    rig = await makeRig({ watch: true, debounceMs: 50, manualClock: true });
    const file = path.join(rig.home, '.cursor/mcp.json');
    const other = path.join(rig.home, '.gemini/settings.json');
    writeFile(file, JSON.stringify({ mcpServers: { a: { command: 'a' } } }));
    writeFile(other, JSON.stringify({ mcpServers: {} }));
    await rig.governor.start();
    const count = rig.reports.length;
    // The rewrite is read on its own (the clock closes its debounce window before the next change),
    // so only the report dedupe keeps it from being sent.
    fs.writeFileSync(file, JSON.stringify({ mcpServers: { a: { command: 'a' } } }, null, 4));
    fs.writeFileSync(path.join(rig.home, '.cursor/other.json'), '{}');
    await rig.flush();
    expect(rig.governor.inventory().servers.map((s) => s.name)).toEqual(['a']);
    expect(rig.reports.length).toBe(count);
    // A real change is still reported, once. (Another file: chokidar drops a second change event
    // for the same path within 50 ms of the first.)
    fs.writeFileSync(other, JSON.stringify({ mcpServers: { b: { command: 'b' } } }));
    await rig.flush();
    expect(rig.reports.at(-1)!.servers.map((s) => s.name)).toEqual(['a', 'b']);
    expect(rig.reports.length).toBe(count + 1);
  });
});

describe('periodic rescan', () => {
  it('re-reads every file when the interval has passed on the clock, and not before', async () => {
    rig = await makeRig({ watch: false, rescanIntervalMs: 60_000, manualClock: true });
    const file = path.join(rig.home, '.cursor/mcp.json');
    await rig.governor.start();
    expect(rig.reports.at(-1)!.servers).toEqual([]);
    // Without a watcher only the rescan can see this file.
    writeFile(file, JSON.stringify({ mcpServers: { missed: { command: 'missed' } } }));
    rig.clock!.advance(59_999);
    await rig.governor.idle();
    expect(rig.governor.inventory().servers).toEqual([]);
    rig.clock!.advance(1);
    await rig.governor.idle();
    expect(rig.reports.at(-1)!.servers.map((s) => s.name)).toEqual(['missed']);
    // And again one interval later.
    fs.rmSync(file);
    rig.clock!.advance(60_000);
    await rig.governor.idle();
    expect(rig.reports.at(-1)!.servers).toEqual([]);
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
