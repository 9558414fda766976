import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprintServer } from '../../agent/src/mcp/index.ts';
import { LocalFingerprints, serverIdentity } from '../../agent/src/mcp/fingerprint.ts';
import { Redactor } from '../../agent/src/mcp/redact.ts';
import { makeRig, writeFile, type Rig } from './helpers.ts';

const corpus = (JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../fixtures/mcp/secrets-corpus.json'), 'utf8')) as { secrets: string[] }).secrets;

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('redaction', () => {
  it('lets no secret of the corpus reach the serialized inventory, wherever it is configured', async () => {
    rig = await makeRig();
    const servers: Record<string, unknown> = {};
    // The first 13 corpus entries have a recognisable token shape and are also placed as bare positional args.
    corpus.forEach((secret, i) => {
      servers[`env-${i}`] = { command: 'npx', args: ['-y', 'some-server'], env: { SOME_VALUE: secret } };
      servers[`flag-${i}`] = { command: 'node', args: ['server.js', '--api-key', secret] };
      servers[`flageq-${i}`] = { command: 'node', args: ['server.js', `--token=${secret}`] };
      servers[`bare-${i}`] = { command: 'docker', args: ['run', '-e', `GITHUB_TOKEN=${secret}`, 'img', i < 13 ? secret : `--password=${secret}`] };
      servers[`bearer-${i}`] = { command: 'mcp-remote', args: ['https://mcp.example.com/sse', '--header', `Authorization: Bearer ${secret}`] };
      servers[`url-${i}`] = { url: `https://user:${encodeURIComponent(secret)}@MCP.Example.com/mcp?key=${encodeURIComponent(secret)}&team=x`, headers: { 'X-Api-Key': secret } };
    });
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: servers }, null, 2));
    await rig.governor.rescan();
    const inv = rig.reports.at(-1)!;
    expect(inv.servers.length).toBe(Object.keys(servers).length);
    const wire = JSON.stringify(inv);
    for (const secret of corpus) {
      expect(wire).not.toContain(secret);
      expect(wire).not.toContain(encodeURIComponent(secret));
    }
    // Readable parts survive: names of env vars and headers, commands, hosts, non-secret args.
    const url0 = inv.servers.find((s) => s.name === 'url-0')!;
    expect(url0.url).toMatch(/^https:\/\/hmac:[0-9a-f]{12}@mcp\.example\.com\/mcp\?key=hmac:[0-9a-f]{12}&team=hmac:[0-9a-f]{12}$/);
    expect(url0.headers).toEqual([{ name: 'X-Api-Key', value: expect.stringMatching(/^hmac:[0-9a-f]{12}$/) }]);
    const flag0 = inv.servers.find((s) => s.name === 'flag-0')!;
    expect(flag0.args).toEqual(['server.js', '--api-key', expect.stringMatching(/^hmac:/)]);
    expect(inv.servers.find((s) => s.name === 'env-0')!.env[0]!.name).toBe('SOME_VALUE');
  });

  it('hashes with the device key: same value, same hash on one device; different devices differ', () => {
    const a = new Redactor(Buffer.alloc(32, 1));
    const b = new Redactor(Buffer.alloc(32, 2));
    expect(a.value('ghp_x')).toBe(a.value('ghp_x'));
    expect(a.value('ghp_x')).not.toBe(b.value('ghp_x'));
    expect(a.value('${GITHUB_TOKEN}')).toBe('${GITHUB_TOKEN}');
    expect(a.args(['-y', '@modelcontextprotocol/server-filesystem', '/home/alice/src'])).toEqual(['-y', '@modelcontextprotocol/server-filesystem', '/home/alice/src']);
  });

  it('keeps the device key in the store across restarts', async () => {
    rig = await makeRig();
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { a: { command: 'x', env: { K: 'v' } } } }));
    await rig.governor.rescan();
    const first = rig.governor.inventory().servers[0]!.env[0]!.value;
    const { McpGovernor } = await import('../../agent/src/mcp/index.ts');
    const again = new McpGovernor({
      store: rig.store, logger: (await import('../../agent/src/lib/logger.ts')).silentLogger(), decide: () => ({ verdict: 'allow', status: 'allowed' }),
      report: () => {}, audit: () => {}, mode: 'current-user', users: [rig.user], managedRoot: rig.managedRoot, watch: false, rescanIntervalMs: 0,
    });
    await again.rescan();
    expect(again.inventory().servers[0]!.env[0]!.value).toBe(first);
  });
});

describe('fingerprint', () => {
  it('is command + args in order for stdio and ignores name, env and order of unrelated keys', () => {
    const a = fingerprintServer({ transport: 'stdio', command: 'npx', args: ['-y', 'srv'] });
    expect(fingerprintServer({ transport: 'stdio', command: 'npx', args: ['-y', 'srv'] })).toBe(a);
    expect(fingerprintServer({ transport: 'stdio', command: 'npx', args: ['srv', '-y'] })).not.toBe(a);
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('lowercases scheme and host of remote servers but keeps the path as written', () => {
    const a = fingerprintServer({ transport: 'http', url: 'HTTPS://MCP.Example.COM/Mcp' });
    expect(fingerprintServer({ transport: 'sse', url: 'https://mcp.example.com/Mcp' })).toBe(a);
    expect(fingerprintServer({ transport: 'http', url: 'https://mcp.example.com/mcp' })).not.toBe(a);
  });

  it('gives the same server in two apps the same fingerprint', async () => {
    rig = await makeRig();
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { gh: { command: 'npx', args: ['-y', 'gh-mcp'] } } }));
    writeFile(path.join(rig.home, '.codex/config.toml'), '[mcp_servers.github]\ncommand = "npx"\nargs = ["-y", "gh-mcp"]\n');
    writeFile(path.join(rig.home, '.config/opencode/opencode.json'), JSON.stringify({ mcp: { hub: { type: 'local', command: ['npx', '-y', 'gh-mcp'] } } }));
    await rig.governor.rescan();
    const fps = new Set(rig.governor.inventory().servers.map((s) => s.fingerprint));
    expect(rig.governor.inventory().servers.map((s) => s.app).sort()).toEqual(['codex', 'cursor', 'opencode']);
    expect(fps.size).toBe(1);
  });

  it('is keyed per device locally: servers differing only in a secret differ here, and nowhere else can the value be recomputed', () => {
    const a = serverIdentity({ transport: 'stdio', command: 'pg-mcp', args: ['--password', 'hunter2'] });
    const b = serverIdentity({ transport: 'stdio', command: 'pg-mcp', args: ['--password', 'hunter3'] });
    const here = new LocalFingerprints(Buffer.alloc(32, 1));
    const elsewhere = new LocalFingerprints(Buffer.alloc(32, 2));
    expect(fingerprintServer({ transport: 'stdio', command: 'pg-mcp', args: ['--password', 'hunter2'] })).toBe(fingerprintServer({ transport: 'stdio', command: 'pg-mcp', args: ['--password', 'hunter3'] }));
    expect(here.identity(a)).not.toBe(here.identity(b));
    expect(here.identity(a)).toBe(here.identity(a));
    expect(elsewhere.identity(a)).not.toBe(here.identity(a));
    expect(here.identity(a)).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
  });
});
