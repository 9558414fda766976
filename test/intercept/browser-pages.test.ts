// A web page in the person's browser must not spend the signed-in user's virtual key. Real headless
// Chromium, pointed at the real proxy, loads a page from another origin (a loopback server) that tries
// what a hostile page would: a no-cors POST (no preflight, the request is sent even though the page
// cannot read the answer), a CORS fetch, and a websocket to the provider's API. None may reach the
// gateway under the user's key. A request from the provider's own origin, and curl, still do.
import { spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { foreignPageOrigin } from '../../agent/src/intercept/page-origin.ts';
import {
  createHeimdallCa, createTestPki, curl, startProxy, startTestUpstream, tempDir, tlsThrough,
  type RunningProxy, type TestPki, type TestUpstream,
} from './harness.ts';

// Debian's chromium; `npm test` (scripts/dev.sh) names it when it is missing.
const CHROMIUM = '/usr/bin/chromium';
const VIRTUAL_KEY = 'sk-bf-test-virtual-key';

let dir: string;
let pki: TestPki;
let gateway: TestUpstream;
let proxy: RunningProxy;
let pages: http.Server;
let pagesUrl: string;
let leafSpki: string;
let onReport: (report: string) => void = () => undefined;

// What a hostile page tries; it reports what it saw to its own server.
const ATTACK_PAGE = `<!doctype html><script>
(async () => {
  const out = [];
  const body = JSON.stringify({ model: 'gpt-demo', messages: [{ role: 'user', content: 'spent by a web page' }] });
  try { await fetch('https://api.openai.com/v1/chat/completions', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }); out.push('nocors:sent'); } catch (e) { out.push('nocors:failed'); }
  try { const r = await fetch('https://api.openai.com/v1/models'); out.push('cors:' + r.status + ':' + (await r.text()).slice(0, 80)); } catch (e) { out.push('cors:failed'); }
  await new Promise((resolve) => {
    const ws = new WebSocket('wss://api.openai.com/v1/responses');
    ws.onopen = () => { out.push('ws:open'); ws.close(); resolve(); };
    ws.onerror = () => { out.push('ws:failed'); resolve(); };
  });
  // Same-origin report to the page's own server (loopback: Chromium never sends it to the proxy).
  await fetch('/report?' + encodeURIComponent(out.join('|')));
})();
</script>`;

/**
 * Opens a URL in headless Chromium through the proxy and waits for the page's report of what it saw.
 * The page reports over a request of its own rather than Chromium dumping the DOM after a time budget:
 * on a loaded machine the page's work takes as long as it takes.
 */
async function runInChromium(url: string): Promise<string> {
  const profile = fs.mkdtempSync(path.join(dir, 'chromium-'));
  const args = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`,
    `--proxy-server=http://127.0.0.1:${proxy.port}`,
    // Trust Heimdall's leaves (one shared key) the way an installed CA would, without touching the machine's store.
    `--ignore-certificate-errors-spki-list=${leafSpki}`,
    url,
  ];
  const report = new Promise<string>((resolve) => (onReport = resolve));
  // Its own process group, so the browser's helper processes end with it.
  const browser = spawn(CHROMIUM, args, { stdio: 'ignore', detached: true });
  const exited = new Promise<string>((_resolve, reject) => browser.once('exit', (code) => reject(new Error(`chromium exited (${code}) before the page reported`))));
  try {
    return await Promise.race([report, exited]);
  } finally {
    try {
      process.kill(-browser.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function keyedRequests(): string[] {
  return gateway.requests
    .filter((r) => String(r.headers.authorization ?? '').includes(VIRTUAL_KEY) || String(r.headers['x-bf-vk'] ?? '').includes(VIRTUAL_KEY))
    .map((r) => `${r.method} ${r.url}`);
}

beforeAll(async () => {
  dir = tempDir('heimdall-browser-');
  pki = createTestPki(dir);
  const heimdallCa = await createHeimdallCa(dir);
  gateway = await startTestUpstream(pki, 'gateway', ['gateway.test']);
  proxy = await startProxy(heimdallCa, { gatewayUrl: gateway.url, gatewayCa: pki.caPem });
  const leaf = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
  const der = new X509Certificate(leaf.getPeerCertificate(false).raw).publicKey.export({ type: 'spki', format: 'der' });
  leafSpki = createHash('sha256').update(der).digest('base64');
  leaf.destroy();
  pages = http.createServer((req, res) => {
    if (req.url?.startsWith('/report?')) {
      onReport(decodeURIComponent(req.url.slice('/report?'.length)));
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(ATTACK_PAGE);
  });
  await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
  pagesUrl = `http://127.0.0.1:${(pages.address() as net.AddressInfo).port}/attack.html`;
});

afterAll(async () => {
  await Promise.all([proxy?.close(), gateway?.close(), new Promise((r) => (pages ? pages.close(r) : r(undefined)))]);
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  gateway.requests.length = 0;
  proxy.records.length = 0;
});

describe('web pages in a real browser', () => {
  it('lends the user\'s virtual key to no page of another site: no-cors POST, CORS fetch, websocket', async () => {
    const seen = await runInChromium(pagesUrl);
    // The gateway saw nothing under the user's key, and the page read nothing: its CORS fetch failed
    // (the refusal carries no CORS grant), its websocket never opened; a no-cors POST always "succeeds"
    // opaquely, which is why it must be refused at the proxy, not left to CORS.
    expect(keyedRequests()).toEqual([]);
    expect(seen).toBe('nocors:sent|cors:failed|ws:failed');
    // Each attempt was refused and audited, with the other site named.
    const refused = proxy.records.filter((r) => r.outcome === 'blocked');
    expect(refused.length).toBeGreaterThanOrEqual(3);
    for (const r of refused) expect(r.reason).toContain(new URL(pagesUrl).origin);
  }, 90_000);

  it('still serves apps that are not browser pages (curl), under the user\'s key', async () => {
    const r = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, 'https://api.openai.com/v1/models']);
    expect(r.status).toBe(200);
    expect(keyedRequests()).toEqual(['GET /openai/v1/models']);
  });

  it('serves a request whose Origin is the API host itself (the provider\'s own same-origin call)', async () => {
    const r = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, 'https://api.openai.com/v1/models', '-H', 'origin: https://api.openai.com', '-H', 'sec-fetch-site: same-origin']);
    expect(r.status).toBe(200);
    expect(keyedRequests()).toHaveLength(1);
  });
});

describe('which requests a foreign page made', () => {
  const host = 'api.openai.com';
  it.each([
    [{}, undefined],
    [{ 'sec-fetch-site': 'none' }, undefined],
    [{ origin: 'https://api.openai.com', 'sec-fetch-site': 'same-origin' }, undefined],
    [{ origin: 'HTTPS://API.OPENAI.COM' }, undefined],
    [{ origin: 'https://evil.example' }, 'https://evil.example'],
    [{ origin: 'null' }, 'null'],
    [{ origin: 'https://api.openai.com:8443' }, 'https://api.openai.com:8443'],
    [{ origin: 'http://api.openai.com' }, 'http://api.openai.com'],
    [{ 'sec-fetch-site': 'cross-site' }, 'a cross-site page'],
    [{ origin: 'https://platform.openai.com', 'sec-fetch-site': 'same-site' }, 'https://platform.openai.com'],
  ])('%j -> %s', (headers, expected) => {
    expect(foreignPageOrigin(headers, host)).toBe(expected);
  });
});
