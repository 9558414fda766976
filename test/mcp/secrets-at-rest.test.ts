// MCP secrets must not sit where someone else can read them: not in the managed policy files every
// user can read, not behind a fingerprint a word list can invert, not in the daemon's own database.
// Each test performs the attack; it succeeded on the code before the fix.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { McpGovernor, MCP_MIGRATIONS, fingerprintServer } from '../../agent/src/mcp/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { makeRig, tempDir, writeFile, type Rig } from './helpers.ts';

const PASSWORD = 'hunter2';
const TOKEN = 'ghp_Secr3tTokenForTheAttackTest0123456789';
const HEADER_SECRET = 'tok-AttackHeaderValue-5ab1c2d3e4f5';
const ENV_SECRET = 'env-AttackEnvValue-77aa88bb99cc';
const isLinuxRoot = process.platform === 'linux' && process.getuid?.() === 0;
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0;

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** ~/.claude.json as `claude mcp add -s user pg -- pg-mcp --password hunter2 --token ghp_...` leaves it. */
function claudeUserFile(home: string): void {
  writeFile(
    path.join(home, '.claude.json'),
    JSON.stringify({ mcpServers: { pg: { type: 'stdio', command: '/bin/true', args: ['pg-mcp', '--password', PASSWORD, '--token', TOKEN], env: {} } } }, null, 2),
  );
}

describe.runIf(isLinuxRoot && hasSetpriv)('the managed policy file, read by another local user', () => {
  const name = `hd-m${process.pid % 100000}`;
  let uid: number;
  let gid: number;
  beforeAll(() => {
    execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name]);
    uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
  });
  afterAll(() => {
    execFileSync('userdel', [name]);
  });

  /** What the other user's own process gets from `cat FILE`. */
  function readAs(file: string): { ok: boolean; text: string } {
    const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', 'cat', file], { encoding: 'utf8' });
    return { ok: r.status === 0, text: `${r.stdout}${r.stderr}` };
  }

  it('finds no password or token of a denied server, and the server is still denied to its owner', async () => {
    rig = await makeRig();
    // Folders as open as a default home on many distributions: only each file's own mode protects it.
    for (const d of [rig.dir, rig.home, rig.managedRoot]) fs.chmodSync(d, 0o755);
    fs.mkdirSync(path.join(rig.home, '.claude'), { mode: 0o755 });
    claudeUserFile(rig.home);
    await rig.governor.rescan();
    const pg = rig.governor.inventory().servers.find((s) => s.name === 'pg')!;
    rig.decisions.set(pg.fingerprint, 'block');
    await rig.governor.applyPolicy();

    // The attack: everything under the managed root that the other user can read.
    const managedFiles = (fs.readdirSync(rig.managedRoot, { recursive: true }) as string[]).map((f) => path.join(rig!.managedRoot, f)).filter((f) => fs.statSync(f).isFile());
    for (const file of managedFiles) {
      const seen = readAs(file);
      expect(seen.text).not.toContain(PASSWORD);
      expect(seen.text).not.toContain(TOKEN);
    }
    // Nor the file where the block now lives, in the owner's home.
    const ownerFile = path.join(rig.home, '.claude/settings.json');
    const asOther = readAs(ownerFile);
    expect(asOther.ok).toBe(false);
    expect(asOther.text).not.toContain(PASSWORD);

    // Still blocked: the owner's Claude Code settings deny the exact command line, in the shape
    // Claude Code's settings schema takes (one of serverName / serverCommand / serverUrl per entry).
    const settings = JSON.parse(fs.readFileSync(ownerFile, 'utf8')) as { deniedMcpServers: unknown[] };
    expect(settings.deniedMcpServers).toEqual([{ serverCommand: ['/bin/true', 'pg-mcp', '--password', PASSWORD, '--token', TOKEN] }]);
    expect(fs.statSync(ownerFile).mode & 0o077).toBe(0);
    expect(rig.governor.list().find((r) => r.name === 'pg')).toMatchObject({ enforcedHow: 'file-edit', enforcedDetail: expect.stringContaining(ownerFile) });
  });
});

describe('the other apps’ machine-wide policy files', () => {
  it('repeat no secret of a blocked or allowed server; a command line that would need one is reported, not published', async () => {
    rig = await makeRig();
    writeFile(path.join(rig.home, '.config/Code/User/mcp.json'), JSON.stringify({ servers: { pg: { command: 'pg-mcp', args: ['--password', PASSWORD] }, api: { url: `https://mcp.example.com/t/${TOKEN}/sse` } } }));
    writeFile(
      path.join(rig.home, '.codex/config.toml'),
      `[mcp_servers.pg]\ncommand = "pg-mcp"\nargs = ["--password", "${PASSWORD}"]\n\n[mcp_servers.keyed]\nurl = "https://mcp.example.com/mcp?key=${TOKEN}"\n`,
    );
    writeFile(path.join(rig.home, '.gemini/settings.json'), JSON.stringify({ mcpServers: { pg: { command: 'pg-mcp', args: ['--password', PASSWORD] } } }));
    await rig.governor.rescan();
    for (const s of rig.governor.inventory().servers) if (s.name === 'pg' || s.name === 'api') rig.decisions.set(s.fingerprint, 'block');
    await rig.governor.applyPolicy();

    const managedFiles = (fs.readdirSync(rig.managedRoot, { recursive: true }) as string[]).map((f) => path.join(rig!.managedRoot, f)).filter((f) => fs.statSync(f).isFile());
    expect(managedFiles.map((f) => path.relative(rig!.managedRoot, f)).sort()).toEqual(['etc/codex/requirements.toml', 'etc/gemini-cli/settings.json', 'etc/vscode/policy.json']);
    for (const file of managedFiles) for (const secret of [PASSWORD, TOKEN]) expect(fs.readFileSync(file, 'utf8')).not.toContain(secret);
    const rows = rig.governor.list();
    const row = (app: string, name: string) => rows.find((r) => r.app === app && r.name === name)!;
    expect(row('vscode', 'pg')).toMatchObject({ enforcedHow: 'not-enforceable', enforcedDetail: expect.stringMatching(/carries a secret/) });
    expect(row('vscode', 'api')).toMatchObject({ enforcedHow: 'managed-policy' });
    expect(JSON.parse(JSON.parse(fs.readFileSync(path.join(rig.managedRoot, 'etc/vscode/policy.json'), 'utf8')).ChatDeniedMcpServers)).toEqual([{ serverUrl: 'https://mcp.example.com/t/*/sse*' }]);
    expect(row('codex', 'pg')).toMatchObject({ enforcedHow: 'managed-policy', enforcedDetail: expect.stringMatching(/allowed but not listed.*keyed/) });
    expect(row('gemini-cli', 'pg')).toMatchObject({ enforcedHow: 'managed-policy' });
  });
});

describe('a deny in the owner’s own settings', () => {
  it('comes back when the user takes it out, keeps the user’s own settings, and leaves them on approval', async () => {
    rig = await makeRig({ watch: true, manualClock: true, debounceMs: 80 });
    const settingsFile = path.join(rig.home, '.claude/settings.json');
    writeFile(settingsFile, '{\n  "model": "opus",\n  "deniedMcpServers": [{ "serverName": "mine" }]\n}\n');
    fs.chmodSync(settingsFile, 0o644);
    claudeUserFile(rig.home);
    await rig.governor.start();
    rig.decisions.set(rig.governor.inventory().servers.find((s) => s.name === 'pg')!.fingerprint, 'block');
    await rig.governor.applyPolicy();
    const ours = { serverCommand: ['/bin/true', 'pg-mcp', '--password', PASSWORD, '--token', TOKEN] };
    expect(JSON.parse(fs.readFileSync(settingsFile, 'utf8'))).toEqual({ model: 'opus', deniedMcpServers: [{ serverName: 'mine' }, ours] });
    // It now repeats the user's secret: tightened to the user alone.
    expect(fs.statSync(settingsFile).mode & 0o077).toBe(0);

    // The user removes Heimdall's entry; the watcher sees it and enforcement writes it again.
    fs.writeFileSync(settingsFile, '{ "model": "opus", "deniedMcpServers": [{ "serverName": "mine" }] }\n');
    await rig.flush();
    expect(JSON.parse(fs.readFileSync(settingsFile, 'utf8')).deniedMcpServers).toEqual([{ serverName: 'mine' }, ours]);

    rig.decisions.clear();
    await rig.governor.applyPolicy();
    expect(JSON.parse(fs.readFileSync(settingsFile, 'utf8'))).toEqual({ model: 'opus', deniedMcpServers: [{ serverName: 'mine' }] });
  });
});

describe('the real Claude Code honours a deny in the user’s own settings', () => {
  const claude = path.resolve(import.meta.dirname, '../../node_modules/.bin/claude');
  it.runIf(fs.existsSync(claude))('no longer loads the denied server, and loads it again after approval', async () => {
    rig = await makeRig();
    fs.mkdirSync(path.join(rig.home, '.claude'));
    claudeUserFile(rig.home);
    await rig.governor.rescan();
    const fp = rig.governor.inventory().servers.find((s) => s.name === 'pg')!.fingerprint;
    const env = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: rig.home, DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1', NO_COLOR: '1' };
    const get = (): Promise<string> =>
      new Promise((resolve) => execFile(claude, ['mcp', 'get', 'pg'], { env, cwd: rig!.home, encoding: 'utf8', timeout: 60_000 }, (_e, out, err) => resolve(`${out}${err}`)));
    expect(await get()).toContain('pg-mcp');

    rig.decisions.set(fp, 'block');
    await rig.governor.applyPolicy();
    expect(await get()).toMatch(/No MCP server named "pg"/);

    rig.decisions.delete(fp);
    await rig.governor.applyPolicy();
    expect(await get()).toContain('pg-mcp');
    expect(fs.existsSync(path.join(rig.home, '.claude/settings.json'))).toBe(false);
  }, 200_000);
});

describe('a fingerprint shown in reports, against a word list', () => {
  const WORDS = ['123456', 'password', 'letmein', 'qwerty', PASSWORD, 'dragon', 'admin'];
  const sha = (material: unknown[]): string => `sha256:${createHash('sha256').update(JSON.stringify(material)).digest('hex')}`;

  it('does not give the password back: the fingerprint is the same whatever the secret', async () => {
    rig = await makeRig();
    writeFile(
      path.join(rig.home, '.cursor/mcp.json'),
      JSON.stringify({ mcpServers: { pg: { command: 'pg-mcp', args: ['--password', PASSWORD] }, api: { url: `https://mcp.example.com/mcp?token=${PASSWORD}` } } }),
    );
    await rig.governor.rescan();
    const shown = rig.reports.at(-1)!.servers;
    const pgFp = shown.find((s) => s.name === 'pg')!.fingerprint;
    const apiFp = shown.find((s) => s.name === 'api')!.fingerprint;

    // The attack as it worked: hash each guess the way the fingerprint was computed.
    const recovered = WORDS.find((w) => sha(['stdio', 'pg-mcp', '--password', w]) === pgFp);
    const recoveredUrl = WORDS.find((w) => sha(['remote', `https://mcp.example.com/mcp?token=${w}`]) === apiFp);
    expect(recovered).toBeUndefined();
    expect(recoveredUrl).toBeUndefined();
    // Knowing the new rule does not help: every guess gives the same fingerprint, the one shown.
    const byGuess = new Set(WORDS.map((w) => fingerprintServer({ transport: 'stdio', command: 'pg-mcp', args: ['--password', w] })));
    expect([...byGuess]).toEqual([pgFp]);
    const byGuessUrl = new Set(WORDS.map((w) => fingerprintServer({ transport: 'http', url: `https://mcp.example.com/mcp?token=${w}` })));
    expect([...byGuessUrl]).toEqual([apiFp]);
  });
});

describe('a decision taken on a fingerprint from before secrets were left out', () => {
  it('still holds until the new catalog item is decided, so upgrading lifts no block', async () => {
    const legacy = `sha256:${createHash('sha256').update(JSON.stringify(['stdio', 'pg-mcp', '--password', PASSWORD])).digest('hex')}`;
    const statuses = new Map<string, 'denied' | 'approved'>([[legacy, 'denied']]);
    rig = await makeRig({
      decide: (fp) => {
        const status = statuses.get(fp);
        return status ? { verdict: status === 'denied' ? 'block' : 'allow', status } : { verdict: 'allow', status: 'pending' };
      },
    });
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { pg: { command: 'pg-mcp', args: ['--password', PASSWORD] } } }));
    await rig.governor.rescan();
    const row = rig.governor.list()[0]!;
    expect(row.fingerprint).not.toBe(legacy);
    expect(row).toMatchObject({ decision: { verdict: 'block', status: 'denied' }, enforcedHow: 'file-edit' });
    expect(JSON.parse(fs.readFileSync(path.join(rig.home, '.cursor/mcp.json'), 'utf8')).mcpServers.pg.disabled).toBe(true);
    // The administrator approves the new item: that decision wins over the old one.
    statuses.set(row.fingerprint, 'approved');
    await rig.governor.applyPolicy();
    expect(rig.governor.list()[0]!.decision).toMatchObject({ verdict: 'allow', status: 'approved' });
    expect(JSON.stringify(rig.reports)).not.toContain(legacy);
  });
});

/** Every byte SQLite keeps for the store: the database, its WAL and shared memory. */
function storeBytes(stateDir: string): Buffer {
  return Buffer.concat(fs.readdirSync(stateDir).filter((f) => f.startsWith('heimdall.db')).map((f) => fs.readFileSync(path.join(stateDir, f))));
}

const SECRETS = [PASSWORD, TOKEN, HEADER_SECRET, ENV_SECRET];
const CURSOR_SERVERS = {
  mcpServers: {
    pg: { command: 'pg-mcp', args: ['--password', PASSWORD, '--token', TOKEN], env: { PGPASSWORD: ENV_SECRET } },
    api: { url: `https://mcp.example.com/mcp?token=${PASSWORD}`, headers: { Authorization: `Bearer ${HEADER_SECRET}` } },
  },
};

describe('the state database, read byte for byte', () => {
  it('holds no argument, env, header or URL secret of the servers it last read', async () => {
    rig = await makeRig();
    writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify(CURSOR_SERVERS));
    await rig.governor.rescan();
    const bytes = storeBytes(path.join(rig.dir, 'state'));
    for (const s of SECRETS) expect(bytes.includes(s)).toBe(false);

    // The last good parse still serves its purpose: a broken file keeps its servers reported.
    fs.writeFileSync(path.join(rig.home, '.cursor/mcp.json'), '{ "mcpServers": ');
    const again = new McpGovernor({
      store: rig.store, logger: silentLogger(), decide: () => ({ verdict: 'allow', status: 'allowed' }), report: () => {}, audit: () => {},
      mode: 'current-user', users: [rig.user], managedRoot: rig.managedRoot, watch: false, rescanIntervalMs: 0,
    });
    await again.rescan();
    const before = rig.governor.inventory().servers;
    expect(again.inventory().servers).toEqual(before);
    for (const s of SECRETS) expect(JSON.stringify(again.inventory())).not.toContain(s);
  });

  it('rewrites rows an older version stored with their secrets', () => {
    const stateDir = path.join(tempDir('heimdall-mcp-migrate-'), 'state');
    const v1 = { component: 'mcp', migrations: MCP_MIGRATIONS.migrations.slice(0, 1) };
    const old = new Store({ stateDir, logger: silentLogger(), migrations: [v1] });
    const servers = [{ name: 'pg', transport: 'stdio', command: 'pg-mcp', args: ['--password', PASSWORD, '--token', TOKEN], env: { PGPASSWORD: ENV_SECRET }, enabled: true }];
    old.db.prepare('INSERT INTO mcp_file_state (path, app, os_user, servers_json, updated_at) VALUES (?, ?, ?, ?, ?)').run('/home/a/.cursor/mcp.json', 'cursor', 'a', JSON.stringify(servers), 'then');
    old.close();
    expect(SECRETS.some((s) => storeBytes(stateDir).includes(s))).toBe(true);

    const upgraded = new Store({ stateDir, logger: silentLogger(), migrations: [MCP_MIGRATIONS] });
    const row = upgraded.db.prepare<[], { servers_json: string }>('SELECT servers_json FROM mcp_file_state').get()!;
    expect(JSON.parse(row.servers_json)[0]).toMatchObject({ name: 'pg', command: 'pg-mcp', args: ['--password', expect.stringMatching(/^hmac:/), '--token', expect.stringMatching(/^hmac:/)] });
    upgraded.close();
    for (const s of SECRETS) expect(storeBytes(stateDir).includes(s)).toBe(false);
    fs.rmSync(path.dirname(stateDir), { recursive: true, force: true });
  });
});
