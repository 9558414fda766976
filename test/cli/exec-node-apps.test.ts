// No noise in the person's apps: Node programs run under `heimdall exec` (or in a shell that applied
// `heimdall env`) have their fetch() and https.request calls governed by the real daemon's proxy, and
// print nothing Heimdall caused on stderr (no "EnvHttpProxyAgent is experimental"). The official
// `openai` SDK goes through the proxy the same way. A real daemon, real Node children, real TLS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AUTH_MIGRATIONS, Credentials } from '../../agent/src/auth/index.ts';
import { buildProxyEnvironment } from '../../agent/src/intercept/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { HEIMDALL_BIN, REPO_ROOT, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';
import { stateDirVault } from '../helpers/vault.ts';

const VIRTUAL_KEY = 'sk-bf-exec-test-0000';
let dir: string;
let stateDir: string;
let daemon: RunningProcess;
let gateway: http.Server;
// Inference requests the gateway received (its sync endpoint, which the daemon also tries, is not one).
const seen: { url: string; authorization: string | undefined }[] = [];

// The app: one fetch() and one https.request to the provider, as any Node AI tool makes them.
const APP = `
import https from 'node:https';
const viaFetch = await fetch('https://api.openai.com/v1/models', { headers: { authorization: 'Bearer sk-app-own-key' } });
console.log('fetch ' + viaFetch.status + ' ' + (await viaFetch.text()));
const viaHttps = await new Promise((resolve, reject) => {
  https.get('https://api.openai.com/v1/models', { headers: { authorization: 'Bearer sk-app-own-key' } }, (res) => {
    let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve(res.statusCode + ' ' + body));
  }).on('error', reject);
});
console.log('https ' + viaHttps);
console.log('NODE_OPTIONS=' + process.env.NODE_OPTIONS);
`;

const SDK_APP = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(path.join(REPO_ROOT, 'package.json'))});
const { default: OpenAI } = await import(require.resolve('openai'));
const page = await new OpenAI({ apiKey: 'sk-app-own-key', maxRetries: 0 }).models.list();
console.log('sdk ' + JSON.stringify(page.data));
`;

const MODELS = JSON.stringify({ object: 'list', data: [{ id: 'gpt-governed', object: 'model' }] });

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-exec-node-'));
  stateDir = path.join(dir, 'state');
  writeFileSync(path.join(dir, 'app.mjs'), APP);
  writeFileSync(path.join(dir, 'sdk-app.mjs'), SDK_APP);
  gateway = http.createServer((req, res) => {
    if (req.url?.startsWith('/openai/')) seen.push({ url: req.url, authorization: req.headers.authorization });
    res.writeHead(req.url === '/openai/v1/models' ? 200 : 404, { 'content-type': 'application/json' }).end(req.url === '/openai/v1/models' ? MODELS : '{}');
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  const gatewayUrl = `http://127.0.0.1:${(gateway.address() as { port: number }).port}`;
  // What `heimdall login` leaves behind: this OS user signed in with a virtual key.
  const store = new Store({ stateDir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
  new Credentials(store.db, await stateDirVault(stateDir)).saveEnrollment({ deviceToken: 'device-token-exec', controlUrl: gatewayUrl, osUser: os.userInfo().username, virtualKey: VIRTUAL_KEY, userId: 'user-1' });
  store.close();
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ gateway_url: gatewayUrl }));
  daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(await freePort())]);
  await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));
});

afterAll(async () => {
  daemon?.child.kill('SIGTERM');
  await daemon?.exited;
  await new Promise((resolve) => gateway?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

// The person's own environment: a PATH with this Node, and NODE_OPTIONS of their own that must survive.
const personEnv = (): NodeJS.ProcessEnv => ({ PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: dir, NODE_OPTIONS: '--max-old-space-size=256' });

function expectGoverned(stdout: string, from: number): void {
  expect(stdout).toContain(`fetch 200 ${MODELS}`);
  expect(stdout).toContain(`https 200 ${MODELS}`);
  // Both calls reached the gateway through the proxy, with the user's virtual key instead of the app's.
  expect(seen.slice(from)).toEqual([
    { url: '/openai/v1/models', authorization: `Bearer ${VIRTUAL_KEY}` },
    { url: '/openai/v1/models', authorization: `Bearer ${VIRTUAL_KEY}` },
  ]);
}

describe('Node apps under heimdall exec / heimdall env', { timeout: 120_000 }, () => {
  it('heimdall exec -- node app.mjs: fetch and https.request governed, nothing on stderr, own NODE_OPTIONS kept', async () => {
    const from = seen.length;
    const r = await runToEnd(process.execPath, [HEIMDALL_BIN, 'exec', '--state-dir', stateDir, '--', 'node', 'app.mjs'], { cwd: dir, env: personEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expectGoverned(r.stdout, from);
    expect(r.stdout).toContain('NODE_OPTIONS=--max-old-space-size=256 --disable-warning=UNDICI-EHPA');
  });

  it('eval "$(heimdall env)" in sh, applied twice: the same, and NODE_OPTIONS gains the flag once', async () => {
    const from = seen.length;
    const env = `${process.execPath} ${HEIMDALL_BIN} env --shell sh --state-dir ${stateDir}`;
    const r = await runToEnd('sh', ['-c', `set -eu; eval "$(${env})"; eval "$(${env})"; node app.mjs`], { cwd: dir, env: personEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expectGoverned(r.stdout, from);
    expect(r.stdout).toContain('NODE_OPTIONS=--max-old-space-size=256 --disable-warning=UNDICI-EHPA\n');
  });

  it('without the NODE_OPTIONS flag, this Node prints the warning (what the flag is there for)', async () => {
    const caBundle = path.join(stateDir, 'ca-bundle.pem');
    const proxyUrl = (JSON.parse((await runToEnd(process.execPath, [HEIMDALL_BIN, 'status', '--json', '--state-dir', stateDir])).stdout) as { sections: { interception: { proxy_url: string } } }).sections.interception.proxy_url;
    const env = Object.fromEntries(buildProxyEnvironment({ proxyUrl, caCertPath: path.join(stateDir, 'ca.pem'), caBundlePath: caBundle }).filter(([k]) => k !== 'NODE_OPTIONS'));
    const r = await runToEnd(process.execPath, ['app.mjs'], { cwd: dir, env: { ...env, PATH: personEnv().PATH } });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('EnvHttpProxyAgent is experimental');
  });

  it('the official openai SDK under heimdall exec goes through the proxy, quietly', async () => {
    const from = seen.length;
    const r = await runToEnd(process.execPath, [HEIMDALL_BIN, 'exec', '--state-dir', stateDir, '--', 'node', 'sdk-app.mjs'], { cwd: dir, env: personEnv() });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toContain('sdk [{"id":"gpt-governed","object":"model"}]');
    expect(seen.slice(from)).toEqual([{ url: '/openai/v1/models', authorization: `Bearer ${VIRTUAL_KEY}` }]);
  });
});
