// `heimdall status` as fleet tools read it: exit 0 only when AI traffic is governed, one documented
// code per reason otherwise, and `--json` with governed / reason / reasons / signed_in_users. Each
// reason is produced for real: a real daemon process, a real store, a real sync channel to a loopback
// protocol server (or to a closed port).
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AUTH_MIGRATIONS, Credentials } from '../../agent/src/auth/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { STATUS_EXIT_CODES } from '../../agent/src/daemon/index.ts';
import { NOT_GOVERNED_REASONS } from '../../agent/src/daemon/index.ts';
import { HEIMDALL_BIN, REPO_ROOT, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';
import { ProtocolTestServer, makePolicy } from '../sync/protocol-test-server.ts';
import { stateDirVault } from '../helpers/vault.ts';

const TOKEN = 'device-token-status-test';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface StatusJson {
  governed: boolean;
  reason: string;
  reasons: string[];
  signed_in_users: string[];
  blockers?: string[];
  agent?: { version: string };
}

function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'heimdall-status-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A daemon process on its own state dir and proxy port, with `settings` as its managed file. */
async function daemon(settings: Record<string, unknown>, before?: (stateDir: string) => void | Promise<void>): Promise<{ stateDir: string; proc: RunningProcess }> {
  const dir = tempDir();
  const stateDir = path.join(dir, 'state');
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify(settings));
  await before?.(stateDir);
  const proc = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(await freePort())]);
  cleanups.push(async () => {
    proc.child.kill('SIGKILL');
    await proc.exited;
  });
  await proc.waitForLine((l) => l.includes('"heimdall daemon started"'));
  return { stateDir, proc };
}

/** What `heimdall login` leaves in the store: an enrolled device and this OS user signed in. */
function signIn(controlUrl: string): (stateDir: string) => Promise<void> {
  return async (stateDir) => {
    const store = new Store({ stateDir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
    new Credentials(store.db, await stateDirVault(stateDir)).saveEnrollment({ deviceToken: TOKEN, controlUrl, osUser: os.userInfo().username, virtualKey: 'sk-bf-status-test-0000', userId: 'user-1', email: 'alice@example.com' });
    store.close();
  };
}

async function status(stateDir: string): Promise<{ code: number | null; json: StatusJson; text: string }> {
  const asJson = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json', '--state-dir', stateDir]);
  const asText = await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--state-dir', stateDir]);
  expect(asText.code).toBe(asJson.code);
  return { code: asJson.code, json: JSON.parse(asJson.stdout) as StatusJson, text: asText.stdout + asText.stderr };
}

/** A loopback gateway that answers only its sign-in discovery, offering SSO and virtual-key sign-in as told. */
async function discoveryServer(sso: boolean, virtualKey: boolean): Promise<string> {
  const server = http.createServer((req, res) => {
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    if (req.url !== '/.well-known/oauth-authorization-server') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      issuer: base, authorization_endpoint: `${base}/oauth/authorize`, token_endpoint: `${base}/oauth/token`,
      device_authorization_endpoint: `${base}/oauth/device`, revocation_endpoint: `${base}/oauth/revoke`, jwks_uri: `${base}/oauth/jwks`,
      response_types_supported: ['code'], grant_types_supported: ['authorization_code', 'refresh_token'], code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'], heimdall_sso_enabled: sso, heimdall_virtual_key_login: virtualKey,
    }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

async function protocolServer(policy?: ReturnType<typeof makePolicy>): Promise<ProtocolTestServer> {
  const server = new ProtocolTestServer({ token: TOKEN, ...(policy ? { policy } : {}) });
  await server.start();
  cleanups.push(() => server.kill());
  return server;
}

describe('heimdall status exit codes and --json reasons', { timeout: 120_000 }, () => {
  it('3 daemon_not_running: nothing answers on the socket', async () => {
    const stateDir = path.join(tempDir(), 'state');
    const r = await status(stateDir);
    expect(r.code).toBe(3);
    expect(r.json).toMatchObject({ governed: false, reason: 'daemon_not_running', reasons: ['daemon_not_running'], signed_in_users: [] });
    expect(r.text).toContain('AI traffic is NOT governed');
  });

  it('8 not_configured: no gateway_url', async () => {
    const { stateDir } = await daemon({});
    const r = await status(stateDir);
    expect(r.code).toBe(8);
    expect(r.json).toMatchObject({ governed: false, reason: 'not_configured', reasons: ['not_configured', 'not_signed_in', 'policy_stale'], signed_in_users: [] });
    expect(r.json.agent?.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.text).toContain('AI traffic: NOT governed (not_configured, not_signed_in, policy_stale)');
    expect(r.text).toContain('no gateway is configured: set gateway_url in');
  });

  it('7 interception_off: intercept = false', async () => {
    const { stateDir } = await daemon({ gateway_url: 'http://127.0.0.1:9', intercept: false });
    const r = await status(stateDir);
    expect(r.code).toBe(7);
    expect(r.json).toMatchObject({ reason: 'interception_off', reasons: ['interception_off', 'not_signed_in', 'policy_stale'] });
    expect(r.text).toContain('interception is turned off by configuration (intercept = false)');
  });

  it('7 interception_off: the proxy could not start (its port is taken)', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const port = (taken.address() as net.AddressInfo).port;
    const { stateDir } = await daemon({ gateway_url: 'http://127.0.0.1:9', proxy_port: port });
    const r = await status(stateDir);
    expect(r.code).toBe(7);
    expect(r.json).toMatchObject({ reason: 'interception_off', reasons: ['interception_off', 'not_signed_in', 'policy_stale'] });
    expect(r.json.blockers?.[0]).toMatch(/^interception failed to start: /);
  });

  it('4 not_signed_in: configured and intercepting, nobody signed in', async () => {
    const { stateDir } = await daemon({ gateway_url: 'http://127.0.0.1:9' });
    const r = await status(stateDir);
    expect(r.code).toBe(4);
    expect(r.json).toMatchObject({ reason: 'not_signed_in', reasons: ['not_signed_in', 'policy_stale'], signed_in_users: [] });
    expect(r.text).toContain('nobody on this machine has signed in: run `heimdall login`');
  });

  // The sign-in command named is the one that works for the organization's gateway: a person whose
  // organization signs in with SSO is never sent to `--virtual-key`, nor one without SSO to `heimdall login`.
  for (const offer of [{ sso: true, virtualKey: true, command: 'run `heimdall login`' }, { sso: false, virtualKey: true, command: 'run `heimdall login --virtual-key` with the key IT gave you' }]) {
    it(`4 not_signed_in names ${offer.sso ? 'SSO sign-in' : 'virtual-key sign-in'} when that is what the gateway offers`, async () => {
      const gateway = await discoveryServer(offer.sso, offer.virtualKey);
      const { stateDir } = await daemon({ gateway_url: gateway });
      // The first status starts the discovery; the sentence changes once the gateway has answered.
      let last = '';
      for (let attempt = 0; attempt < 100 && !last.includes(`nobody on this machine has signed in: ${offer.command}`); attempt++) {
        last = (await status(stateDir)).text;
      }
      expect(last).toContain(`nobody on this machine has signed in: ${offer.command}`);
      if (offer.sso) expect(last).not.toContain('--virtual-key');
      // The same command in the users section, where `heimdall helper` reads it for its notification.
      const users = ((await status(stateDir)).json as unknown as { sections: { users: { sign_in_command: string } } }).sections.users;
      expect(`run ${users.sign_in_command}`).toBe(offer.command);
    });
  }

  it('5 gateway_unreachable: signed in, the gateway does not answer', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const { stateDir } = await daemon({ gateway_url: closed }, signIn(closed));
    const r = await status(stateDir);
    expect(r.code).toBe(5);
    expect(r.json).toMatchObject({ reason: 'gateway_unreachable', reasons: ['gateway_unreachable', 'policy_stale'], signed_in_users: [os.userInfo().username] });
    expect(r.text).toContain(`the gateway at ${closed} is not connected`);
  });

  it('6 policy_stale: connected to the gateway, which has sent no policy', async () => {
    const server = await protocolServer();
    const { stateDir, proc } = await daemon({ gateway_url: server.url }, signIn(server.url));
    await proc.waitForLine((l) => l.includes('"sync channel connected"'));
    const r = await status(stateDir);
    expect(r.code).toBe(6);
    expect(r.json).toMatchObject({ governed: false, reason: 'policy_stale', reasons: ['policy_stale'], signed_in_users: [os.userInfo().username] });
    expect(r.text).toContain('no policy has been received from the gateway yet');
  });

  it('0 governed: signed in, connected, policy held', async () => {
    const server = await protocolServer(makePolicy(1));
    const { stateDir, proc } = await daemon({ gateway_url: server.url }, signIn(server.url));
    await proc.waitForLine((l) => l.includes('"sync channel connected"'));
    await proc.waitForLine((l) => l.includes('"policy applied"'));
    const r = await status(stateDir);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ governed: true, reason: 'governed', reasons: [], blockers: [], signed_in_users: [os.userInfo().username] });
    expect(r.text).toContain('AI traffic: governed');
  });

  it('documents every code alike in --help, docs/configuration.md and README.md', async () => {
    const help = (await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--help'])).stdout;
    const docs = readFileSync(path.join(REPO_ROOT, 'docs/configuration.md'), 'utf8');
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8').replace(/\s+/g, ' ');
    // The contract's codes, in the contract's order.
    expect(Object.entries(STATUS_EXIT_CODES)).toEqual([
      ['governed', 0], ['daemon_not_running', 3], ['not_signed_in', 4], ['gateway_unreachable', 5], ['policy_stale', 6], ['interception_off', 7], ['not_configured', 8],
    ]);
    const order = ['governed', ...NOT_GOVERNED_REASONS] as const;
    const helpLines = order.map((r) => help.indexOf(`  ${STATUS_EXIT_CODES[r]}  ${r}: `));
    const docRows = order.map((r) => docs.indexOf(`| ${STATUS_EXIT_CODES[r]} | \`${r}\` |`));
    for (const found of [helpLines, docRows]) {
      expect(found.every((i) => i >= 0)).toBe(true);
      expect([...found].sort((a, b) => a - b)).toEqual(found); // listed in the order `reason` picks them
    }
    for (const r of NOT_GOVERNED_REASONS) expect(readme).toContain(`${STATUS_EXIT_CODES[r]} ${r.replace(/_/g, ' ')}`);
    expect(help).toContain('  1  any other error');
    expect(docs).toContain('| 1 | | any other error |');
    expect(readme).toContain('1 any other error');
  });
});
