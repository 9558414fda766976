// MCP end to end (issue 6): the real Codex, Gemini CLI and Claude Code add servers with their own
// `mcp add` commands in the HOME the real daemon watches; each server reaches the gateway's catalog
// within 2 s with its secrets redacted (the secret appears nowhere the gateway keeps or shows); an
// admin deny reaches the agent, which enforces it through each app's managed policy (written under
// the development daemon's managed-root) and says so in `heimdall mcp --json`. Where this process
// may build a private mount namespace (root), the apps' own listing commands are shown the
// managed policy through a read-only overlay of /etc and report the servers as blocked.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_PATH, CLI_BIN, E2e, pollUntil, USER_EMAIL, type SystemUnderTest } from './harness.ts';

const SECRETS = {
  codex: 'sk-proj-E2eCodexSecretAbcdefghijklmnop123456',
  gemini: 'AIzaSyE2eGeminiSecret-0123456789abcdefXYZ',
  claude: 'e2e-claude-api-token-0123456789-secret-value',
};
const has = (name: string): boolean => fs.existsSync(CLI_BIN(name));
const canOverlay = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;

const e2e = new E2e();
let sut: SystemUnderTest;
let home: string;
let env: NodeJS.ProcessEnv;

interface GatewayMcpServer {
  fingerprint: string;
  app: string;
  display_name: string;
  status: string;
  fleet_count: number;
}

beforeAll(async () => {
  sut = await e2e.system();
  home = sut.agent.options.home;
  fs.mkdirSync(path.join(home, '.codex'));
  env = {
    PATH: BASE_PATH,
    HOME: home,
    CODEX_HOME: path.join(home, '.codex'),
    DISABLE_TELEMETRY: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    GEMINI_CLI_TRUST_WORKSPACE: 'true',
    NO_COLOR: '1',
  };
}, 60_000);
afterAll(() => e2e.cleanup());

/** Runs an app's own CLI in the watched HOME; with `overlay`, /etc shows the daemon's managed files. */
async function app(name: string, args: string[], options: { overlay?: boolean } = {}): Promise<string> {
  const managedEtc = path.join(sut.agent.stateDir, 'managed-root/etc');
  const argv = options.overlay
    ? ['unshare', '-m', 'sh', '-c', `mount -t overlay overlay -o lowerdir=${managedEtc}:/etc /etc && exec "$@"`, 'sh', CLI_BIN(name), ...args]
    : [CLI_BIN(name), ...args];
  const r = await e2e.run(argv[0]!, argv.slice(1), { env, cwd: home });
  return `${r.stdout}${r.stderr}`;
}

/** Polls the gateway's MCP catalog (admin API, cheap) until `name` of `appId` is listed; within 2 s. */
async function reachesGateway(appId: string, name: string): Promise<GatewayMcpServer> {
  const { value } = await pollUntil(
    `${appId} server ${name} in the gateway's MCP catalog`,
    async () => ((await sut.gateway.admin('/admin/v1/mcp-servers')).mcp_servers as GatewayMcpServer[]).find((s) => s.app === appId && s.display_name === name),
    { deadlineMs: 2_000 },
  );
  return value;
}

describe('MCP servers added with the apps’ own commands', () => {
  const fingerprints: Record<string, string> = {};

  it.skipIf(!has('codex'))('codex mcp add: at the gateway within 2 s', async () => {
    await app('codex', ['mcp', 'add', 'docs', '--env', `OPENAI_API_KEY=${SECRETS.codex}`, '--', '/bin/true', 'docs-server']);
    expect(fs.readFileSync(path.join(home, '.codex/config.toml'), 'utf8')).toContain(SECRETS.codex);
    fingerprints['codex'] = (await reachesGateway('codex', 'docs')).fingerprint;
  });

  it.skipIf(!has('gemini'))('gemini mcp add -s user: at the gateway within 2 s', async () => {
    await app('gemini', ['mcp', 'add', '-s', 'user', '-e', `GEMINI_API_KEY=${SECRETS.gemini}`, 'files', '/bin/true', 'files-server']);
    expect(fs.readFileSync(path.join(home, '.gemini/settings.json'), 'utf8')).toContain(SECRETS.gemini);
    fingerprints['gemini'] = (await reachesGateway('gemini-cli', 'files')).fingerprint;
  });

  it.skipIf(!has('claude'))('claude mcp add -s user -e: at the gateway within 2 s', async () => {
    // The name comes first: `-e` takes every value up to the next option.
    const out = await app('claude', ['mcp', 'add', 'tickets', '-s', 'user', '-e', `API_TOKEN=${SECRETS.claude}`, '--', '/bin/true', 'tickets-server']);
    expect(fs.readFileSync(path.join(home, '.claude.json'), 'utf8'), out).toContain(SECRETS.claude);
    fingerprints['claude'] = (await reachesGateway('claude-code', 'tickets')).fingerprint;
  });

  it('no secret appears in anything the gateway shows or stores', async () => {
    const list = await sut.gateway.cli(['mcp', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const shown = [
      list.stdout,
      JSON.stringify(await sut.gateway.admin(`/admin/v1/devices/${sut.deviceId}`)),
      JSON.stringify(await sut.gateway.deviceEvents(sut.deviceId, 200)),
    ].join('\n');
    const stored = fs
      .readdirSync(sut.gateway.dataDir)
      .filter((f) => f.startsWith('gateway.db'))
      .map((f) => fs.readFileSync(path.join(sut.gateway.dataDir, f)).toString('latin1'))
      .join('\n');
    // The device inventory holds each server (so the check is not vacuous), with env names only.
    const inventory = (await sut.gateway.admin(`/admin/v1/devices/${sut.deviceId}`)).inventory.mcp_servers as { name: string; env_keys?: string[] }[];
    expect(inventory.map((s) => s.name).sort()).toEqual(['docs', 'files', 'tickets'].filter((_, i) => has(['codex', 'gemini', 'claude'][i]!)));
    for (const secret of Object.values(SECRETS)) {
      expect(shown).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
  });

  it('request-access for an MCP server reaches the approval queue with the reason and the person', async () => {
    const servers = (await sut.agent.json(['mcp'])) as { fingerprint: string; name: string }[];
    const server = servers[0]!;
    const reason = 'the on-call runbook needs the ticket tracker';
    const r = await sut.agent.cli(['request-access', '--mcp', server.fingerprint, '--reason', reason]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Asked your IT team for ${server.name}.`);
    const { value: item } = await pollUntil('the MCP request in the approval queue', async () => {
      const queue = (await sut.gateway.admin('/admin/v1/approvals')) as { approvals: { kind: string; id?: string; fingerprint?: string; requests: { reason: string; os_user: string | null; user_email: string | null }[] }[] };
      return queue.approvals.find((a) => a.kind === 'mcp' && (a.id ?? a.fingerprint) === server.fingerprint && a.requests.length > 0);
    }, { deadlineMs: 5_000, intervalMs: 100 });
    expect(item.requests[0]).toMatchObject({ reason, os_user: expect.any(String), user_email: USER_EMAIL });
    const human = await sut.gateway.cli(['approvals', 'list']);
    expect(human.stdout).toContain(reason);
    // A fingerprint this machine never saw is a sentence, not a request.
    const unknown = await sut.agent.cli(['request-access', '--mcp', 'sha256:0000000000000000', '--reason', 'x']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/heimdall request-access: mcp: no MCP server with this fingerprint/);
  }, 60_000);

  it('an admin deny reaches the agent, which blocks the servers through each app’s managed policy', async () => {
    const denied = Object.entries(fingerprints);
    expect(denied.length).toBeGreaterThan(0);
    const before = (await sut.agent.statusNow()).sections.policy.version as number;
    for (const [, fingerprint] of denied) {
      const r = await sut.gateway.cli(['mcp', 'deny', fingerprint]);
      expect(r.code, r.stderr).toBe(0);
    }
    await sut.agent.waitForPolicy(before + denied.length, 1_000);

    interface Row {
      app: string;
      name: string;
      fingerprint: string;
      decision: { verdict: string; status: string };
      enforcedHow: string;
      enforcedDetail?: string;
    }
    const { value: rows } = await pollUntil(
      'heimdall mcp shows every denied server blocked and enforced',
      async () => {
        const list = (await sut.agent.json(['mcp'])) as Row[];
        const mine = list.filter((r) => denied.some(([, fp]) => fp === r.fingerprint));
        return mine.length === denied.length && mine.every((r) => r.decision.verdict === 'block' && r.enforcedHow === 'managed-policy') ? mine : undefined;
      },
      { deadlineMs: 5_000, intervalMs: 250 },
    );
    const managedRoot = path.join(sut.agent.stateDir, 'managed-root');
    for (const row of rows) {
      expect(row.decision.status).toBe('denied');
      expect(row.enforcedDetail?.startsWith(managedRoot)).toBe(true);
      // "<managed file> (how the app matches)": the file is there.
      expect(fs.existsSync(row.enforcedDetail!.split(' (')[0]!), JSON.stringify(row)).toBe(true);
    }
    if (fingerprints['claude']) {
      const claudeFile = path.join(managedRoot, 'etc/claude-code/managed-settings.d/heimdall.json');
      expect(JSON.parse(fs.readFileSync(claudeFile, 'utf8')).deniedMcpServers).toEqual([{ serverCommand: ['/bin/true', 'tickets-server'] }]);
    }
    // The enforcement itself is audited at the gateway.
    await pollUntil(
      'an mcp.enforcement event at the gateway',
      async () => ((await sut.gateway.deviceEvents(sut.deviceId, 200)).some((e) => e.type === 'mcp.enforcement' && e.attrs['action'] === 'policy-written') ? true : undefined),
      { deadlineMs: 5_000, intervalMs: 200 },
    );
    const human = await sut.agent.cli(['mcp']);
    expect(human.code, human.stderr).toBe(0);
    for (const row of rows) expect(human.stdout).toContain(row.name);
  });

  it.skipIf(!canOverlay)('each app’s own listing shows the denied server blocked', async () => {
    if (fingerprints['codex']) expect(await app('codex', ['mcp', 'list'], { overlay: true })).toMatch(/docs\s.*disabled: requirements/);
    if (fingerprints['gemini']) expect(await app('gemini', ['mcp', 'list'], { overlay: true })).toMatch(/files: .* - Blocked/);
    if (fingerprints['claude']) expect(await app('claude', ['mcp', 'get', 'tickets'], { overlay: true })).toMatch(/No MCP server named "tickets"/);
  }, 60_000);

  it('an approval gives the servers back: no longer blocked, the managed policy withdrawn', async () => {
    const approved = Object.entries(fingerprints);
    for (const [, fingerprint] of approved) {
      const r = await sut.gateway.cli(['mcp', 'approve', fingerprint]);
      expect(r.code, r.stderr).toBe(0);
    }
    await pollUntil(
      'heimdall mcp shows every approved server allowed and nothing enforced',
      async () => {
        const list = (await sut.agent.json(['mcp'])) as { fingerprint: string; decision: { verdict: string; status: string }; enforcedHow: string }[];
        const mine = list.filter((r) => approved.some(([, fp]) => fp === r.fingerprint));
        return mine.length === approved.length && mine.every((r) => r.decision.verdict === 'allow' && r.decision.status === 'approved' && r.enforcedHow === 'none') ? true : undefined;
      },
      { deadlineMs: 5_000, intervalMs: 250 },
    );
    expect(fs.existsSync(path.join(sut.agent.stateDir, 'managed-root/etc/claude-code/managed-settings.d/heimdall.json'))).toBe(false);
    if (canOverlay && fingerprints['codex']) expect(await app('codex', ['mcp', 'list'], { overlay: true })).not.toMatch(/disabled/);
    // The user's own files were never touched: the secrets the apps wrote are still there.
    if (fingerprints['claude']) expect(fs.readFileSync(path.join(home, '.claude.json'), 'utf8')).toContain(SECRETS.claude);
  }, 60_000);
});
