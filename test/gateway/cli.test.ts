// The real `heimdall-gateway` executable: `run` as a child process, admin commands as separate
// processes finding it through the data dir, errors a person can act on, and a clean stop.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { settingsPatchSchema } from '../../gateway/src/admin/schemas.ts';
import { buildProgram, eventDetails, eventUser, settingsPatch } from '../../gateway/src/cli/program.ts';
import pkg from '../../package.json' with { type: 'json' };
import { enroll, newDeviceKey, Peer } from './helpers.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/heimdall-gateway.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-cli-'));
const dataDir = path.join(dir, 'data');
let child: ChildProcess;
let stderr = '';

type Result = { code: number; stdout: string; stderr: string };

/** Runs the real CLI; `env` adds variables (COLUMNS for a table width). */
async function bare(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { env: { ...process.env, HEIMDALL_GATEWAY_URL: '', HEIMDALL_ADMIN_TOKEN: '', COLUMNS: '', ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const cli = (...args: string[]) => bare([...args, '--data-dir', dataDir]);
const gatewayUrl = () => (JSON.parse(readFileSync(path.join(dataDir, 'gateway-runtime.json'), 'utf8')) as { url: string }).url;

/** The admin API's own answer, to compare with what `--json` prints. */
async function api(pathAndQuery: string): Promise<unknown> {
  const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  const res = await fetch(`${gatewayUrl()}/admin/v1/${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
  return res.json();
}

/** The one-line refusal: exit 1 and exactly this message on stderr, nothing on stdout. */
function expectRefused(r: Result, message: string | RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  if (typeof message === 'string') expect(r.stderr).toBe(`heimdall-gateway: ${message}\n`);
  else expect(r.stderr).toMatch(message);
}

beforeAll(async () => {
  child = spawn(process.execPath, [BIN, 'run', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await vi.waitFor(() => expect(existsSync(path.join(dataDir, 'gateway-runtime.json'))).toBe(true), { timeout: 15_000, interval: 50 });
});

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const LONG_EMAIL = 'alexandra.konstantinopoulou-vanderberg@research-division.example.com';
const BUILT_IN = /\(claude-code, claude-desktop, codex-cli, [^)]*, curl\)/;

describe('heimdall-gateway CLI', () => {
  it('says where the admin token is at first start, never the token itself', async () => {
    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    // The runtime file can appear before the child's stderr reaches this process through the pipe.
    await vi.waitFor(() => expect(stderr).toContain(`Admin token created in ${path.join(dataDir, 'admin-token')}`), { timeout: 5000, interval: 20 });
    expect(stderr).not.toContain(token);
  });

  it("prints package.json's version with --version and version, like heimdall does", async () => {
    const [flag, short, command, json] = await Promise.all([bare(['--version']), bare(['-V']), bare(['version']), bare(['version', '--json'])]);
    expect(flag).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect(short.stdout).toBe(`${pkg.version}\n`);
    expect(command.stdout).toBe(`heimdall-gateway ${pkg.version} (node ${process.version}, ${process.platform}-${process.arch})\n`);
    expect(JSON.parse(json.stdout)).toEqual({ version: pkg.version, node: process.version, platform: `${process.platform}-${process.arch}` });
  });

  it('creates a key, decides an app, lists it, through the admin API', async () => {
    const key = await cli('keys', 'create', '--user', 'ops@example.com');
    expect(key.code).toBe(0);
    expect(key.stdout.trim()).toMatch(/^sk-bf-/);
    expect((await cli('apps', 'deny', 'cursor')).stdout).toBe('app cursor: denied\n');
    expect((await cli('settings', 'set', 'routing.codex-cli', 'passthrough')).code).toBe(0);
    expect((await cli('settings', 'get', 'routing.codex-cli')).stdout).toBe('passthrough\n');
  });

  it("refuses a decision on an app or MCP server that is not in the catalog, naming it and the accepted ids", async () => {
    const [approve, deny, userDeny, mcp] = await Promise.all([
      cli('apps', 'approve', 'cursr'),
      cli('apps', 'deny', 'claude'),
      cli('apps', 'deny', 'gpt-cli', '--user', 'ops@example.com'),
      cli('mcp', 'deny', 'fp-not-reported-1'),
    ]);
    expectRefused(approve, /^heimdall-gateway: 404: no app "cursr" in the catalog; accepted: the apps agents know by name \(claude-code, [^)]+\) and the apps agents reported \(/);
    expect(approve.stderr).toMatch(BUILT_IN);
    expectRefused(deny, /^heimdall-gateway: 404: no app "claude" in the catalog; accepted: /);
    expectRefused(userDeny, /^heimdall-gateway: 404: no app "gpt-cli" in the catalog; accepted: /);
    expectRefused(mcp, '404: no MCP server "fp-not-reported-1" in the catalog; accepted: the fingerprints agents reported (none yet)');
    // Nothing was created by the refusals.
    expect(((await api('apps')) as { apps: { id: string }[] }).apps.map((a) => a.id)).toEqual(['cursor']);
  });

  it('refuses an MCP fingerprint that was not reported, listing those that were, and decides a reported one', async () => {
    const key = (await cli('keys', 'create', '--user', 'dev@example.com')).stdout.trim();
    const enrolled = await enroll({ url: gatewayUrl() }, key, 'dev-cli-mcp');
    const peer = new Peer(`${gatewayUrl().replace(/^http/, 'ws')}/edge/v1/connect`, enrolled.body.device_token as string);
    await peer.handshake('dev-cli-mcp');
    const server = { app: 'claude-code', scope: 'user', config_path: '/home/alice/.claude.json', name: 'github', transport: 'stdio', fingerprint: 'fp-github-0001', command: 'npx', args: [], env_keys: [], header_keys: [], os_user: 'alice' };
    peer.send({ type: 'inventory.mcp', seq: 1, servers: [server], errors: [] });
    await peer.next('ack', (m) => m.seq === 1);
    peer.close();
    const [typo, ok] = await Promise.all([cli('mcp', 'approve', 'fp-github-001'), cli('mcp', 'approve', 'fp-github-0001')]);
    expectRefused(typo, '404: no MCP server "fp-github-001" in the catalog; accepted: the fingerprints agents reported (fp-github-0001; mcp list (GET /admin/v1/mcp-servers) shows them)');
    expect(ok).toMatchObject({ code: 0, stdout: 'MCP server fp-github-0001: approved\n' });
  });

  it('refuses to revoke a device or key that does not exist, saying where the ids are', async () => {
    const [device, key] = await Promise.all([cli('devices', 'revoke', 'dev-nope'), cli('keys', 'revoke', 'vk_nope')]);
    expectRefused(device, '404: no device "dev-nope"; devices list (GET /admin/v1/devices) shows the enrolled ones');
    expectRefused(key, '404: no virtual key "vk_nope"; keys list (GET /admin/v1/keys) shows their ids');
  });

  it('refuses an unknown --status with the accepted values, from the admin API', async () => {
    const [apps, mcp, good] = await Promise.all([cli('apps', 'list', '--status', 'denyed'), cli('mcp', 'list', '--status', 'blocked'), cli('apps', 'list', '--status', 'denied', '--json')]);
    expectRefused(apps, '400: status: "denyed" is not accepted; accepted: pending, approved, denied');
    expectRefused(mcp, '400: status: "blocked" is not accepted; accepted: pending, approved, denied');
    expect(JSON.parse(good.stdout)).toEqual({ apps: [expect.objectContaining({ id: 'cursor', status: 'denied' })] });
  });

  it('refuses an unknown setting name or value with the accepted ones', async () => {
    const results = await Promise.all([
      cli('settings', 'set', 'fail_mode', 'sideways'),
      cli('settings', 'set', 'failmode', 'open'),
      cli('settings', 'set', 'intercept', 'maybe'),
      cli('settings', 'set', 'full_resync_s', '5'),
      cli('settings', 'set', 'routing.cursr', 'gateway'),
      cli('settings', 'set', 'routing.cursor', 'direct'),
      cli('settings', 'get', 'failmode'),
    ]);
    const [value, name, flag, number, routingApp, routingMode, get] = results;
    expectRefused(value, '400: fail_mode: "sideways" is not accepted; accepted: open, closed');
    expectRefused(name, '400: unknown field failmode; accepted: pending_action, fail_mode, intercept, routing, full_resync_s, allow_direct_keys, require_verified');
    expectRefused(flag, '400: intercept: "maybe" is not accepted; accepted: true, false');
    expectRefused(number, '400: full_resync_s: 5 is not accepted; accepted: a whole number of seconds from 30 to 86400');
    expectRefused(routingApp, /^heimdall-gateway: 400: no app "cursr" in the catalog; accepted: the apps agents know by name \(claude-code, /);
    expectRefused(routingMode, '400: routing.cursor: "direct" is not accepted; accepted: gateway, passthrough, or null to remove it (back to gateway)');
    expectRefused(get, 'no setting "failmode"; accepted: pending_action, fail_mode, intercept, routing, full_resync_s, allow_direct_keys, require_verified, routing.<app_id>, require_verified.<app_id>');
  });

  it('says to run ca generate when there is no CA to export, then exports the CA as PEM with its SHA-256 fingerprint', async () => {
    expectRefused(await cli('ca', 'export'), 'the gateway holds no CA yet: create one with `heimdall-gateway ca generate` (or bring your own with `heimdall-gateway ca upload --cert FILE --key FILE`)');
    expect((await cli('ca', 'generate', '--domain', 'api.openai.com')).code).toBe(0);
    const r = await cli('ca', 'export');
    expect(r.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\nSHA-256 Fingerprint=([0-9A-F]{2}:){31}[0-9A-F]{2}\n$/);
    expect((await cli('ca', 'generate')).stderr).toMatch(/--force/);
  });

  it('shows the user an inference event belongs to in events list', async () => {
    const key = (await cli('keys', 'create', '--user', 'infer@example.com')).stdout.trim();
    // No provider is configured: the gateway refuses, and audits the refusal under the key's user.
    const res = await fetch(`${gatewayUrl()}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{}' });
    await res.text();
    // The audit event is written when the exchange has ended on the gateway side, which may trail the client's read.
    await vi.waitFor(async () => expect(((await api('events?type=inference')) as { events: unknown[] }).events).toHaveLength(1), { timeout: 5000, interval: 50 });
    const table = (await cli('events', 'list', '--type', 'inference')).stdout;
    const [header, row] = table.split('\n');
    const column = header!.indexOf(' USER ') + 1;
    expect(column).toBeGreaterThan(0);
    expect(row!.slice(column)).toMatch(/^infer@example\.com /);
  });

  it('prints exactly the admin API answer with --json, for every list and get', async () => {
    const pairs: [string[], string][] = [
      [['apps', 'list'], 'apps'],
      [['mcp', 'list'], 'mcp-servers'],
      [['devices', 'list'], 'devices'],
      [['keys', 'list'], 'keys'],
      [['settings', 'get'], 'settings'],
      [['settings', 'get', 'fail_mode'], 'settings'],
      [['events', 'list'], 'events?limit=50'],
      [['ca', 'export'], 'ca'],
    ];
    const printed = await Promise.all(pairs.map(([args]) => cli(...args, '--json')));
    for (const [i, [args, apiPath]] of pairs.entries()) {
      expect(printed[i]!.code, `${args.join(' ')}: ${printed[i]!.stderr}`).toBe(0);
      expect(JSON.parse(printed[i]!.stdout), args.join(' ')).toEqual(await api(apiPath));
    }
  });

  it('keeps tables within the width, cutting long emails and names at a word with an ellipsis, while --json keeps them whole', async () => {
    expect((await cli('keys', 'create', '--user', LONG_EMAIL, '--name', 'the shared workstation in the third floor lab')).code).toBe(0);
    expect((await cli('apps', 'approve', 'cursor', '--user', LONG_EMAIL)).code).toBe(0);
    const [keys, apps, events, keysJson] = await Promise.all([
      bare(['keys', 'list', '--data-dir', dataDir], { COLUMNS: '100' }),
      bare(['apps', 'list', '--data-dir', dataDir], { COLUMNS: '100' }),
      bare(['events', 'list', '--data-dir', dataDir], { COLUMNS: '100' }),
      cli('keys', 'list', '--json'),
    ]);
    for (const out of [keys.stdout, apps.stdout, events.stdout]) {
      for (const line of out.trimEnd().split('\n')) expect(line.length, line).toBeLessThanOrEqual(100);
    }
    const cells = keys.stdout.split('\n').find((l) => l.includes('alexandra'))!.split(/ {2,}/);
    // Cut next to a separator (space . - @ ...), never mid-word, and marked as cut.
    const cutAtWord = (whole: string) => {
      const cell = cells.find((c) => whole.startsWith(c.slice(0, 5)))!;
      expect(cell).toMatch(/^.{5,}…$/);
      const kept = cell.slice(0, -1);
      expect(whole.startsWith(kept), cell).toBe(true);
      expect(/[\s/:@._,=-]/.test(kept.at(-1)!) || /[\s/:@._,=-]/.test(whole[kept.length]!), cell).toBe(true);
    };
    cutAtWord(LONG_EMAIL);
    cutAtWord('the shared workstation in the third floor lab');
    // A wrapping column continues on the next lines instead.
    expect(apps.stdout.replace(/\s+/g, '')).toContain(`${LONG_EMAIL}:approved`);
    const whole = JSON.parse(keysJson.stdout) as { keys: { user: { email: string }; name: string | null }[] };
    expect(whole.keys.find((k) => k.user.email === LONG_EMAIL)?.name).toBe('the shared workstation in the third floor lab');
  });

  it('devices revoke names the keys revoked with the device, and devices reset lets the id enroll with a new key', async () => {
    const key = (await cli('keys', 'create', '--user', 'lost@example.com')).stdout.trim();
    expect((await enroll({ url: gatewayUrl() }, key, 'dev-cli-lost')).status).toBe(200);
    const revoked = await cli('devices', 'revoke', 'dev-cli-lost');
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^device dev-cli-lost revoked; virtual keys revoked with it: vk_\S+\n$/);
    const fresh = (await cli('keys', 'create', '--user', 'lost@example.com')).stdout.trim();
    // A reinstalled machine makes a new key: refused until the administrator resets the id.
    expect((await enroll({ url: gatewayUrl() }, fresh, 'dev-cli-lost', 'alice', newDeviceKey())).status).toBe(403);
    expect(await cli('devices', 'reset', 'dev-cli-lost')).toMatchObject({ code: 0, stdout: 'device dev-cli-lost reset: the next enrollment of this id binds a new device key\n' });
    expect((await enroll({ url: gatewayUrl() }, fresh, 'dev-cli-lost', 'alice', newDeviceKey())).status).toBe(200);
    expectRefused(await cli('devices', 'reset', 'dev-nope'), '404: no device "dev-nope"; devices list (GET /admin/v1/devices) shows the enrolled ones');
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('help', () => {
  it('shows an example on every command', () => {
    const leaves: Command[] = [];
    const walk = (c: Command) => (c.commands.length === 0 ? leaves.push(c) : c.commands.forEach(walk));
    let out = '';
    const program = buildProgram({ out: (t) => (out += t), err: (t) => (out += t) });
    walk(program);
    expect(leaves.length).toBeGreaterThan(15);
    for (const leaf of leaves) {
      out = '';
      leaf.outputHelp();
      expect(out, leaf.name()).toMatch(/Examples?:\n {2}\$ heimdall-gateway /);
    }
  });

  it('agrees with docs/gateway.md and README.md: every command, its options and every setting', () => {
    const docs = readFileSync('docs/gateway.md', 'utf8');
    const cliBlock = /## CLI\n[\s\S]*?```\n([\s\S]*?)```/.exec(docs)![1]!.split('\n');
    const readme = /The reference gateway, `heimdall-gateway`[\s\S]*?\n\n/.exec(readFileSync('README.md', 'utf8'))![0];
    const program = buildProgram({ out: () => {}, err: () => {} });
    const shared = new Set(['--url', '--token', '--token-file', '--data-dir', '--json', '--help']);
    const leaves: string[][] = [];
    const walk = (c: Command, names: string[]) => (c.commands.length === 0 ? leaves.push(names) : c.commands.forEach((sub) => walk(sub, [...names, sub.name()])));
    walk(program, []);
    for (const names of leaves) {
      const line = cliBlock.find((l) => {
        const words = l.split(' ');
        return words[0] === 'heimdall-gateway' && names.every((name, i) => words[i + 1]!.split('|').includes(name));
      });
      expect(line, `docs/gateway.md has no line for ${names.join(' ')}`).toBeDefined();
      let leaf = program;
      for (const name of names) leaf = leaf.commands.find((c) => c.name() === name)!;
      for (const option of leaf.options) if (option.long && !shared.has(option.long)) expect(line, `${names.join(' ')} ${option.long}`).toContain(option.long);
      for (const name of names) expect(readme, `README.md: ${names.join(' ')}`).toContain(name);
    }
    let setHelp = '';
    program.commands.find((c) => c.name() === 'settings')!.commands.find((c) => c.name() === 'set')!.configureOutput({ writeOut: (t) => (setHelp += t) }).outputHelp();
    for (const setting of Object.keys(settingsPatchSchema.shape)) {
      expect(setHelp, setting).toContain(setting);
      expect(docs.slice(docs.indexOf('- `settings set` takes')), setting).toContain(setting);
    }
  });

  it("names an event's person and OS user, and leaves empty attributes out of its details", () => {
    expect(eventUser({ user_email: 'carol@example.com', os_user: 'carol' })).toBe('carol@example.com (carol)');
    expect(eventUser({ user_email: 'infer@example.com', os_user: null })).toBe('infer@example.com');
    expect(eventUser({ user_email: null, os_user: 'root' })).toBe('root');
    expect(eventDetails({ route: 'openai', model: null, status: 200, user_email: 'infer@example.com', direct_key: false })).toBe('route=openai status=200 direct_key=false');
  });

  it('turns `settings set KEY VALUE` into the admin API body', () => {
    expect(settingsPatch('intercept', 'false')).toEqual({ intercept: false });
    expect(settingsPatch('full_resync_s', '600')).toEqual({ full_resync_s: 600 });
    expect(settingsPatch('routing.codex-cli', 'default')).toEqual({ routing: { 'codex-cli': null } });
    expect(settingsPatch('require_verified.claude-code', 'true')).toEqual({ require_verified: { 'claude-code': true } });
    expect(settingsPatch('require_verified.claude-code', 'false')).toEqual({ require_verified: { 'claude-code': false } });
  });
});
