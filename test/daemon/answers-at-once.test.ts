// The daemon answers at once: the proxy and the local API serve while the first MCP discovery is
// still running (a large ~/.claude.json takes seconds), and `heimdall status` says it is in progress.
// The discovery is held open by a gate the test releases, so "before it finished" is a fact, not a race.
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

const CHILD = path.join(import.meta.dirname, 'gated-discovery-child.ts');
let dir: string | undefined;
let daemon: RunningProcess | undefined;
afterEach(async () => {
  daemon?.child.kill('SIGKILL');
  await daemon?.exited;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = daemon = undefined;
});

/** A ~/.claude.json over the 8 MiB read limit (so it is streamed), with one MCP server among many projects. */
function largeClaudeJson(): string {
  const projects: Record<string, unknown> = {};
  for (let i = 0; i < 500; i++) projects[`/home/dev/project-${i}`] = { allowedTools: [], history: [{ display: 'x'.repeat(20_000) }] };
  return JSON.stringify({ numStartups: 3, projects, mcpServers: { tickets: { command: '/bin/true', args: ['tickets-server'] } } });
}

interface McpSection {
  servers: number;
  discovery: { state: string };
  summary: string;
}

const pacFrom = (port: number): Promise<number | undefined> =>
  new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port, path: '/proxy.pac' }, (res) => (res.resume(), resolve(res.statusCode))).on('error', reject));

describe('the daemon answers at once', { timeout: 120_000 }, () => {
  it('serves status and the proxy while a large MCP discovery is still running, and says so', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-at-once-'));
    const home = path.join(dir, 'home');
    mkdirSync(home);
    const claudeJson = largeClaudeJson();
    expect(claudeJson.length).toBeGreaterThan(8 * 1024 * 1024);
    writeFileSync(path.join(home, '.claude.json'), claudeJson);
    const stateDir = path.join(dir, 'state');
    const config = path.join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ gateway_url: 'http://127.0.0.1:9' }));
    const proxyPort = await freePort();
    daemon = startProcess(process.execPath, [CHILD, stateDir, config, String(proxyPort)], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, HOME: home } });
    await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));

    // Discovery has not begun (the gate is closed): status answers anyway, text and JSON.
    const json = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json', '--state-dir', stateDir]);
    const mcp = (JSON.parse(json.stdout) as { sections: { mcp: McpSection } }).sections.mcp;
    expect(mcp.discovery.state).toBe('in_progress');
    expect(mcp.summary).toBe('discovery in progress (0 MCP server(s) found so far)');
    const text = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--state-dir', stateDir]);
    expect(text.stdout).toContain('MCP servers: discovery in progress');
    // The proxy serves too.
    expect(await pacFrom(proxyPort)).toBe(200);
    expect(daemon.logs().some((l) => l['msg'] === 'MCP discovery complete')).toBe(false);

    daemon.child.stdin!.write('go\n');
    await daemon.waitForLine((l) => l.includes('"MCP discovery complete"'), 60_000);
    const after = JSON.parse((await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json', '--state-dir', stateDir])).stdout) as { sections: { mcp: McpSection } };
    expect(after.sections.mcp.discovery.state).toBe('done');
    expect(after.sections.mcp.summary).toBe('1 MCP server(s) found');
    const servers = JSON.parse((await runToEnd(process.execPath, [HEIMDALL_BIN, 'mcp', '--json', '--state-dir', stateDir])).stdout) as { name: string }[];
    expect(servers.map((s) => s.name)).toEqual(['tickets']);
  });
});
