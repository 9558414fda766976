// ca_mode gateway end to end: the agent holds no CA key; it sends CSRs over the sync channel and gets
// short-lived leaves signed by the gateway-held CA, which curl then trusts through the proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startDemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/server.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { HEIMDALL_BIN, freePort, runToEnd, startProcess, type RunningProcess } from '../helpers/process.ts';

let dir: string;
let stateDir: string;
let gateway: RunningGateway;
let upstream: Awaited<ReturnType<typeof startDemoUpstream>>;
let daemon: RunningProcess;
let proxyPort: number;
let gatewayCaPem: string;

// --state-dir goes right after the command: everything after `exec --` belongs to the child.
const heimdall = ([command, ...rest]: string[], input?: string): ReturnType<typeof runToEnd> =>
  runToEnd(process.execPath, [HEIMDALL_BIN, command!, '--state-dir', stateDir, ...rest], input !== undefined ? { input } : {});

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-gwca-'));
  stateDir = path.join(dir, 'agent');
  process.env['HEIMDALL_TEST_OPENAI_KEY'] = 'upstream-openai-key';
  upstream = await startDemoUpstream({ keys: { openai: 'upstream-openai-key', anthropic: 'a', genai: 'g' } });
  gateway = await startGateway({
    dataDir: path.join(dir, 'gateway'),
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    config: { ...EMPTY_CONFIG, inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.HEIMDALL_TEST_OPENAI_KEY' } } } },
  });
  gatewayCaPem = (await gateway.control.generateCa({})).certPem;
  const { key } = await gateway.control.createVirtualKey({ email: 'carol@acme.example' });
  const config = path.join(dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ gateway_url: gateway.url, ca_mode: 'gateway' }));
  proxyPort = await freePort();
  daemon = startProcess(process.execPath, [HEIMDALL_BIN, 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(proxyPort)]);
  await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'));
  const login = await heimdall(['login', '--virtual-key'], key);
  expect(login.code).toBe(0);
});

afterAll(async () => {
  daemon.child.kill('SIGTERM');
  await daemon.exited;
  await gateway.close();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway-held CA mode', () => {
  it('publishes the gateway CA for apps and never holds a CA key on the device', async () => {
    let fingerprint = '';
    for (let i = 0; i < 100 && !fingerprint; i++) {
      const out = await heimdall(['ca', 'fingerprint']);
      if (out.code === 0) fingerprint = out.stdout.trim();
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(fingerprint).toBe(new X509Certificate(gatewayCaPem).fingerprint256);
    expect(existsSync(path.join(stateDir, 'ca-key.pem'))).toBe(false);
    const caPath = (await heimdall(['ca', 'path'])).stdout.trim();
    expect(readFileSync(caPath, 'utf8').trim()).toBe(gatewayCaPem.trim());
  });

  it('serves a short-lived leaf signed by the gateway CA that curl trusts through the proxy', async () => {
    const reply = await heimdall([
      'exec', '--', 'curl', '-s', 'https://api.openai.com/v1/chat/completions',
      '-d', JSON.stringify({ model: 'gpt-demo', messages: [{ role: 'user', content: 'signed by the gateway' }] }),
    ]);
    expect(JSON.parse(reply.stdout).choices[0].message.content).toContain('signed by the gateway');

    const handshake = await runToEnd('openssl', ['s_client', '-proxy', `127.0.0.1:${proxyPort}`, '-connect', 'api.openai.com:443', '-servername', 'api.openai.com', '-showcerts']);
    const leafPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(handshake.stdout)?.[0];
    expect(leafPem).toBeDefined();
    const leaf = new X509Certificate(leafPem!);
    expect(leaf.checkIssued(new X509Certificate(gatewayCaPem))).toBe(true);
    const lifetimeDays = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    expect(lifetimeDays).toBeLessThanOrEqual(45);
    expect(leaf.subjectAltName).toContain('DNS:api.openai.com');
  });
});
