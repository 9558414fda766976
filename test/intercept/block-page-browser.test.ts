// A person's browser on a blocked consumer AI surface (claude.ai), through the PAC the daemon serves:
// real headless Chromium navigates and gets the block page (organization, the policy's sentence,
// support link, nothing loaded from anywhere); the page's own API calls get the provider's error
// shape. The test saves a screenshot of the page for review (test-results/block-page.png).
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockMessage } from '../../agent/src/policy/index.ts';
import type { Governor } from '../../agent/src/intercept/index.ts';
import { createHeimdallCa, createTestPki, curl, startProxy, startTestUpstream, tempDir, tlsThrough, TEST_DENIED, type RunningProxy, type TestUpstream } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = path.resolve('test-results/block-page.png');
const MESSAGE = blockMessage({ appName: 'Chromium', appId: 'chrome', organization: 'Example Corp', supportUrl: 'https://help.example.com/ai', reason: 'denied' });

const denyAll: Governor = {
  admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { appId: 'chrome', appName: 'Chromium', routingMode: 'gateway' } }),
  admitRequest: () => ({ decision: 'block', message: MESSAGE, policy: TEST_DENIED }),
};

let dir: string;
let gateway: TestUpstream;
let proxy: RunningProxy;
let leafSpki: string;

beforeAll(async () => {
  dir = tempDir('heimdall-block-page-');
  const pki = createTestPki(dir);
  const heimdallCa = await createHeimdallCa(dir);
  gateway = await startTestUpstream(pki, 'gateway', ['gateway.test']);
  proxy = await startProxy(heimdallCa, { gatewayUrl: gateway.url, gatewayCa: pki.caPem, governor: denyAll });
  const leaf = await tlsThrough(proxy.port, 'claude.ai', proxy.caPem);
  const der = new X509Certificate(leaf.getPeerCertificate(false).raw).publicKey.export({ type: 'spki', format: 'der' });
  leafSpki = createHash('sha256').update(der).digest('base64');
  leaf.destroy();
});

afterAll(async () => {
  await Promise.all([proxy?.close(), gateway?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Headless Chromium through the PAC; `mode` is `--dump-dom` or `--screenshot=FILE`. */
function chromium(mode: string, url: string): Promise<string> {
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-'));
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', `--user-data-dir=${profile}`, '--window-size=900,640',
    `--proxy-pac-url=http://127.0.0.1:${proxy.port}/proxy.pac`,
    `--ignore-certificate-errors-spki-list=${leafSpki}`,
    mode, url,
  ];
  return new Promise((resolve, reject) => {
    execFile(CHROMIUM, args, { timeout: 90_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => (err ? reject(new Error(`chromium failed: ${err.message}`)) : resolve(stdout)));
  });
}

describe('a blocked consumer surface in a real browser, through the PAC', () => {
  it('shows the block page: the organization, the sentence, the support link, nothing from elsewhere', async () => {
    const dom = await chromium('--dump-dom', 'https://claude.ai/new');
    expect(dom).toContain('Example Corp blocks');
    expect(dom).toContain('Chromium is blocked at Example Corp: an administrator denied it.');
    expect(dom).toContain('href="https://help.example.com/ai"');
    expect(dom).not.toMatch(/<(script|img|link|iframe)\b/i);
    const navigation = proxy.records.find((r) => r.host === 'claude.ai');
    expect(navigation).toMatchObject({ outcome: 'blocked', status: 403, routeId: 'claude-web' });
    expect(gateway.requests).toHaveLength(0);

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    fs.rmSync(SCREENSHOT, { force: true });
    await chromium(`--screenshot=${SCREENSHOT}`, 'https://claude.ai/new');
    expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(1000);
  }, 180_000);

  it('answers the page\'s own API calls in the provider\'s error shape, and the page forbids loading anything', async () => {
    const api = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, '-H', 'accept: application/json', 'https://claude.ai/api/organizations']);
    expect(api.status).toBe(403);
    expect(JSON.parse(api.body)).toEqual({ type: 'error', error: { type: 'permission_error', message: MESSAGE } });
    const page = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, '-H', 'accept: text/html', '-D', '-', 'https://claude.ai/']);
    expect(page.body).toMatch(/content-security-policy: default-src 'none'; style-src 'unsafe-inline'/i);
  });
});
