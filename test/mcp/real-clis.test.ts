// The real Claude Code, Codex and Gemini CLIs (npm devDependencies) add servers in a temporary home;
// Heimdall finds them, redacts them, and a block is honoured by each app's own listing command.
// The managed policy is written under a temporary root and shown to the apps by a read-only overlay
// of /etc in a private mount namespace, so the real /etc is never written.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { McpServerReport } from '../../agent/src/mcp/index.ts';
import { makeRig, tempDir, type Rig } from './helpers.ts';

const BIN = path.resolve(import.meta.dirname, '../../node_modules/.bin');
const NODE_DIR = path.dirname(process.execPath);
const canOverlay = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['-m', 'true']).status === 0;
})();

const GH_TOKEN = 'ghp_R3alLooking0Token1ForTests2abcdefXYZ9';
const CLAUDE_ARG_SECRET = 'sk-ant-api03-TestOnlyTestOnlyTestOnly0123456789';
const BEARER = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJoZWltZGFsbC10ZXN0In0.c2lnbmF0dXJlLWZvci10ZXN0cw';
const CODEX_KEY = 'sk-proj-CodexTestKeyAbcdefghijklmnop123456';
const GEMINI_KEY = 'AIzaSyTestOnlyGeminiKey-0123456789abcdef';
const SECRETS = [GH_TOKEN, CLAUDE_ARG_SECRET, BEARER, CODEX_KEY, GEMINI_KEY];

let rig: Rig;
let home: string;
let env: NodeJS.ProcessEnv;

/** Runs a CLI without blocking the event loop (the watcher must keep working meanwhile). */
function run(cmd: string, args: string[], opts: { overlay?: boolean } = {}): Promise<string> {
  const full = path.join(BIN, cmd);
  const argv = opts.overlay
    ? ['unshare', '-m', 'sh', '-c', `mount -t overlay overlay -o lowerdir=${rig.managedRoot}/etc:/etc /etc && exec "$@"`, 'sh', full, ...args]
    : [full, ...args];
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env, cwd: home, encoding: 'utf8', timeout: 60_000 }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

/**
 * Each test below drives 6 to 12 runs of the real CLIs one after the other (each allowed 60 s by
 * run()); on a loaded 2-core machine that takes minutes, far past the suite's default 30 s.
 */
const CLI_TEST_BUDGET_MS = 300_000;

const byName = (inv: { servers: McpServerReport[] }, app: string, name: string): McpServerReport | undefined =>
  inv.servers.find((s) => s.app === app && s.name === name);

beforeAll(async () => {
  const base = tempDir('heimdall-mcp-real-');
  home = path.join(base, 'home');
  fs.mkdirSync(path.join(home, '.codex'), { recursive: true });
  env = {
    PATH: `${NODE_DIR}:/usr/bin:/bin`,
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    CODEX_HOME: path.join(home, '.codex'),
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
    NO_COLOR: '1',
  };
  rig = await makeRig({ home, watch: true, debounceMs: 100 });
  fs.mkdirSync(path.join(rig.managedRoot, 'etc'), { recursive: true });
  fs.chmodSync(rig.dir, 0o755);
  fs.chmodSync(rig.managedRoot, 0o755);
  await rig.governor.start();
}, 60_000);

afterAll(async () => {
  await rig?.close();
  fs.rmSync(path.dirname(home), { recursive: true, force: true });
});

describe('servers added with the apps’ own commands', () => {
  it('appear in the inventory, redacted, as the watcher sees each app write its file', async () => {
    await run('claude', ['mcp', 'add', 'gh', '-s', 'user', '-e', `GITHUB_TOKEN=${GH_TOKEN}`, '--', '/bin/true', '--token', CLAUDE_ARG_SECRET]);
    await run('claude', ['mcp', 'add', 'remote', '-s', 'user', '--transport', 'http', 'https://MCP.Example.com/mcp', '-H', `Authorization: Bearer ${BEARER}`]);
    await run('codex', ['mcp', 'add', 'docs', '--env', `OPENAI_API_KEY=${CODEX_KEY}`, '--', '/bin/true', 'docs-server']);
    await run('codex', ['mcp', 'add', 'search', '--', '/bin/true', 'search-server']);
    await run('gemini', ['mcp', 'add', '-s', 'user', '-e', `GEMINI_API_KEY=${GEMINI_KEY}`, 'files', '/bin/true', 'files-server']);
    await run('gemini', ['mcp', 'add', '-s', 'user', 'notes', '/bin/true', 'notes-server']);

    const inv = await rig.waitForReport((i) => i.servers.length >= 6, 15_000);
    const gh = byName(inv, 'claude-code', 'gh')!;
    expect(gh).toMatchObject({ scope: 'user', transport: 'stdio', command: '/bin/true', configPath: path.join(home, '.claude.json') });
    expect(gh.args).toEqual(['--token', expect.stringMatching(/^hmac:[0-9a-f]{12}$/)]);
    expect(gh.env).toEqual([{ name: 'GITHUB_TOKEN', value: expect.stringMatching(/^hmac:/) }]);
    const remote = byName(inv, 'claude-code', 'remote')!;
    expect(remote).toMatchObject({ transport: 'http', url: 'https://mcp.example.com/mcp' });
    expect(remote.headers).toEqual([{ name: 'Authorization', value: expect.stringMatching(/^hmac:/) }]);
    expect(byName(inv, 'codex', 'docs')).toMatchObject({ command: '/bin/true', args: ['docs-server'], configPath: path.join(home, '.codex/config.toml') });
    expect(byName(inv, 'gemini-cli', 'files')!.env).toEqual([{ name: 'GEMINI_API_KEY', value: expect.stringMatching(/^hmac:/) }]);
    const wire = JSON.stringify(rig.reports);
    for (const s of SECRETS) expect(wire).not.toContain(s);
  }, CLI_TEST_BUDGET_MS);

  it.skipIf(!canOverlay)('a block is honoured by each app, and approval gives the servers back', async () => {
    const inv = rig.governor.inventory();
    const blockedNames = [['claude-code', 'gh'], ['claude-code', 'remote'], ['codex', 'docs'], ['gemini-cli', 'files']] as const;
    for (const [app, name] of blockedNames) rig.decisions.set(byName(inv, app, name)!.fingerprint, 'block');
    await rig.governor.applyPolicy();

    const claudeFile = path.join(rig.managedRoot, 'etc/claude-code/managed-settings.d/heimdall.json');
    // The machine-wide drop-in (0644) takes what it can carry without a secret; the stdio server
    // with a token in its arguments is denied in the user's own settings (0600) instead.
    const denied = JSON.parse(fs.readFileSync(claudeFile, 'utf8'));
    expect(denied.deniedMcpServers).toEqual([{ serverUrl: 'https://mcp.example.com/mcp' }]);
    expect(fs.statSync(claudeFile).mode & 0o777).toBe(0o644);
    const ownerFile = path.join(home, '.claude/settings.json');
    expect(JSON.parse(fs.readFileSync(ownerFile, 'utf8')).deniedMcpServers).toEqual([{ serverCommand: ['/bin/true', '--token', CLAUDE_ARG_SECRET] }]);
    expect(fs.statSync(ownerFile).mode & 0o077).toBe(0);

    // Claude Code drops denied servers from what it loads: `mcp get` no longer finds them.
    expect(await run('claude', ['mcp', 'get', 'gh'], { overlay: true })).toMatch(/No MCP server named "gh"/);
    expect(await run('claude', ['mcp', 'get', 'remote'], { overlay: true })).toMatch(/No MCP server named "remote"/);
    // Codex: the allow list in requirements.toml disables everything else.
    const codexList = await run('codex', ['mcp', 'list'], { overlay: true });
    expect(codexList).toMatch(/docs\s.*disabled: requirements/);
    expect(codexList).toMatch(/search\s.*\benabled\b/);
    // Gemini CLI shows the excluded server as Blocked.
    const geminiList = await run('gemini', ['mcp', 'list'], { overlay: true });
    expect(geminiList).toMatch(/files: .* - Blocked/);
    expect(geminiList).not.toMatch(/notes: .* - Blocked/);

    expect(rig.governor.list().filter((r) => r.decision.verdict === 'block').map((r) => `${r.name}:${r.enforcedHow}`).sort()).toEqual(['docs:managed-policy', 'files:managed-policy', 'gh:file-edit', 'remote:managed-policy']);
    expect(rig.audits.filter((a) => a.action === 'policy-written').map((a) => `${a.app}:${path.basename(a.path)}`).sort()).toEqual(['claude-code:heimdall.json', 'claude-code:settings.json', 'codex:requirements.toml', 'gemini-cli:settings.json']);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect(fs.existsSync(claudeFile)).toBe(false);
    expect(fs.existsSync(ownerFile)).toBe(false);
    expect(await run('claude', ['mcp', 'get', 'gh'], { overlay: true })).toMatch(/gh:\s+Scope: User config/);
    expect(fs.existsSync(path.join(rig.managedRoot, 'etc/codex/requirements.toml'))).toBe(false);
    expect(await run('claude', ['mcp', 'get', 'remote'], { overlay: true })).toMatch(/remote:\s+Scope: User config/);
    expect(await run('codex', ['mcp', 'list'], { overlay: true })).not.toMatch(/disabled/);
    expect(await run('gemini', ['mcp', 'list'], { overlay: true })).not.toMatch(/Blocked/);
    expect(rig.audits.filter((a) => a.action === 'policy-removed').length).toBeGreaterThanOrEqual(2);
  }, CLI_TEST_BUDGET_MS);

  it('never writes ~/.claude.json, even while Claude Code servers are blocked', () => {
    const text = fs.readFileSync(path.join(home, '.claude.json'), 'utf8');
    expect(text).toContain(GH_TOKEN);
    expect(text).not.toContain('heimdall');
    expect(execFileSync('ls', [home], { encoding: 'utf8' })).not.toMatch(/\.tmp/);
  });
});
