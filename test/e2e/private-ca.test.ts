// An organization whose gateway serves TLS from a private CA installed in the machine's CA store
// (here SSL_CERT_FILE, the store OpenSSL and the daemon read on Linux): enrollment, the sync
// channel and forwarded inference all trust it, every part a real process. Without the CA in the
// store, sign-in fails with a message that says why.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki } from '../intercept/harness.ts';
import { chatBody, demoAnswer, E2e, type GatewayProcess } from './harness.ts';

const e2e = new E2e();
let gateway: GatewayProcess;
let caPath: string;
let key: string;

beforeAll(async () => {
  const pkiDir = e2e.dir('pki');
  const pki = createTestPki(pkiDir);
  caPath = pki.caPath;
  const { cert, key: tlsKey } = pki.issue('gateway', ['localhost']);
  fs.writeFileSync(path.join(pkiDir, 'gw-cert.pem'), cert);
  fs.writeFileSync(path.join(pkiDir, 'gw-key.pem'), tlsKey, { mode: 0o600 });
  const demo = await e2e.demo();
  gateway = await e2e.gateway(demo, {
    tls: { certFile: path.join(pkiDir, 'gw-cert.pem'), keyFile: path.join(pkiDir, 'gw-key.pem') },
    env: { NODE_EXTRA_CA_CERTS: caPath }, // the admin CLI's trust, not the agent's
  });
  expect(gateway.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  key = ((await gateway.json(['keys', 'create', '--user', 'alice@acme.example'])) as { key: string }).key;
}, 60_000);
afterAll(() => e2e.cleanup());

describe('a gateway behind a private CA in the OS store', () => {
  it('is trusted for sign-in, the sync channel and forwarded inference', async () => {
    const agent = await e2e.agent(gateway, { env: { SSL_CERT_FILE: caPath } });
    await agent.login(key);
    await agent.waitForPolicy(1, 15_000);
    const r = await agent.exec('curl', ['-sS', '--fail-with-body', 'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '-d', chatBody('over private TLS')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).choices[0].message.content).toBe(demoAnswer('demo-gpt', 'over private TLS'));
  }, 60_000);

  it('is refused, with the reason, when the CA is not in the store', async () => {
    const agent = await e2e.agent(gateway);
    const r = await agent.cli(['login', '--virtual-key'], { input: key });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("its TLS certificate is not trusted on this machine (SELF_SIGNED_CERT_IN_CHAIN); install the organization's CA in the system certificate store");
  }, 60_000);
});
