// The proxy as a network service: what it binds, what it tunnels untouched, what it refuses, how
// it streams, and that one bad client never hurts the next.
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import vm from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import {
  connectThrough, createHeimdallCa, createTestPki, curl, rawExchange, startProxy, startTestUpstream, tempDir, tlsThrough,
  type RunningProxy, type TestPki, type TestUpstream,
  TEST_ALLOWED, TEST_DENIED,
} from './harness.ts';
import { interceptedHosts } from '../../agent/src/forward/index.ts';
import { TargetGuard } from '../../agent/src/intercept/index.ts';
import { ManualClock } from '../../lib/index.ts';

let dir: string;
let pki: TestPki;
let heimdallCa: Awaited<ReturnType<typeof createHeimdallCa>>;
let gateway: TestUpstream;
let origin: TestUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  dir = tempDir('heimdall-proxy-');
  pki = createTestPki(dir);
  heimdallCa = await createHeimdallCa(dir);
  gateway = await startTestUpstream(pki, 'gateway', ['gateway.test']);
  origin = await startTestUpstream(pki, 'origin', ['claude.ai', 'api.anthropic.com']);
  proxy = await startProxy(heimdallCa, {
    gatewayUrl: gateway.url,
    gatewayCa: pki.caPem,
    resolveOrigin: (host) => ({ url: origin.url, ca: pki.caPem, servername: host }),
    clientTimeouts: { headersMs: 1500, requestMs: 3000 },
    // The loopback servers below stand in for hosts on the internet: allowed here as an administrator
    // would allow a local service (test/intercept/local-targets.test.ts shows the default refuses them).
    targetGuard: new TargetGuard({ allowed: ['127.0.0.1'] }),
  });
});

afterAll(async () => {
  await Promise.all([proxy?.close(), gateway?.close(), origin?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  gateway.requests.length = 0;
  gateway.handler = (req, res, body) => {
    const payload = JSON.stringify({ url: req.url, body });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(payload);
  };
});

async function proxyStillServes(): Promise<void> {
  const r = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, 'https://api.openai.com/v1/models']);
  expect(r.status).toBe(200);
}

describe('listening', () => {
  it('binds only loopback addresses, IPv4 and IPv6', () => {
    const { listening, port } = proxy.proxy.address();
    for (const l of listening) expect(['127.0.0.1', '::1']).toContain(l.address);
    expect(listening.map((l) => l.address)).toContain('127.0.0.1');
    // What the kernel says is listening on that port (/proc/net/tcp{,6}, state 0A): nothing but loopback.
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    const locals = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((file) => fs.readFileSync(file, 'utf8').trim().split('\n').slice(1))
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols[3] === '0A' && cols[1]!.endsWith(`:${hexPort}`))
      .map((cols) => cols[1]!.split(':')[0]);
    expect(locals.length).toBeGreaterThan(0);
    // 0100007F is 127.0.0.1; 00000000000000000000000001000000 is ::1 (both in the kernel's byte order).
    for (const local of locals) expect(['0100007F', '00000000000000000000000001000000']).toContain(local);
  });

  it('serves a PAC that sends only routing-table hosts to the proxy, checked by evaluating it', async () => {
    const r = await curl([`http://127.0.0.1:${proxy.port}/proxy.pac`, '-D', '-']);
    expect(r.status).toBe(200);
    expect(r.body.toLowerCase()).toContain('content-type: application/x-ns-proxy-autoconfig');
    const script = r.body.slice(r.body.indexOf('\r\n\r\n') + 4);
    const sandbox: { FindProxyForURL?: (url: string, host: string) => string } = {};
    vm.runInNewContext(script, sandbox);
    const find = sandbox.FindProxyForURL!;
    for (const host of interceptedHosts()) expect(find(`https://${host}/`, host)).toBe(`PROXY 127.0.0.1:${proxy.port}`);
    expect(find('https://API.OpenAI.com./v1', 'API.OpenAI.com.')).toBe(`PROXY 127.0.0.1:${proxy.port}`);
    for (const host of ['www.example.com', 'github.com', 'openai.com', 'evil-api.openai.com.attacker.net', 'localhost']) {
      expect(find(`https://${host}/`, host)).toBe('DIRECT');
    }
  });
});

describe('loopback services and web pages', () => {
  it('refuses the PAC to a page that re-points its own name at loopback (DNS rebinding)', async () => {
    const rebound = await curl([`http://127.0.0.1:${proxy.port}/proxy.pac`, '-H', `Host: rebind.attacker.example:${proxy.port}`]);
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain('FindProxyForURL');
    expect(rebound.body).toContain('only to loopback names');
    for (const host of [`localhost:${proxy.port}`, `127.0.0.1:${proxy.port}`, `[::1]:${proxy.port}`]) {
      expect((await curl([`http://127.0.0.1:${proxy.port}/proxy.pac`, '-H', `Host: ${host}`])).status).toBe(200);
    }
  });
});

describe('tunnels for hosts outside the routing table', () => {
  it('shows the non-AI server its own certificate, not a Heimdall one', async () => {
    const other = await startTestUpstream(pki, 'bank', ['bank.test']);
    try {
      const { socket, head } = await connectThrough(proxy.port, `127.0.0.1:${other.port}`);
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      const t = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({ socket, servername: 'bank.test', ca: pki.caPem }, () => resolve(s));
        s.once('error', reject);
      });
      const peer = t.getPeerX509Certificate()!;
      expect(peer.subject).toContain('CN=bank.test');
      expect(peer.issuer).toContain('Heimdall test upstream CA');
      t.end('GET / HTTP/1.1\r\nHost: bank.test\r\nConnection: close\r\n\r\n');
      const reply = await new Promise<string>((r) => { let b = ''; t.on('data', (d) => { b += String(d); }); t.on('close', () => r(b)); });
      expect(reply).toMatch(/^HTTP\/1\.1 200/);
      expect(proxy.records.find((rec) => rec.host === '127.0.0.1')).toBeUndefined();
    } finally {
      await other.close();
    }
  });

  it('answers 502 with a reason when the tunnel target is unreachable', async () => {
    const closed = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
    const { head } = await connectThrough(proxy.port, `127.0.0.1:${closed}`);
    expect(head).toMatch(/^HTTP\/1\.1 502/);
  });

  it('refuses a CONNECT to the proxy itself (loop) with 508', async () => {
    for (const self of [`127.0.0.1:${proxy.port}`, `localhost:${proxy.port}`, `[::1]:${proxy.port}`]) {
      const { head } = await connectThrough(proxy.port, self);
      expect(head).toMatch(/^HTTP\/1\.1 508/);
    }
  });

  it('refuses a CONNECT with 403 and the one-line reason when the governor refuses a non-interceptable host', async () => {
    const strict = await startProxy(heimdallCa, {
      gatewayUrl: gateway.url,
      governor: {
        admitConnection: (info) => Promise.resolve(info.intercepted
          ? { decision: 'admit', attribution: { routingMode: 'gateway' } }
          : { decision: 'refuse', reason: 'Cursor is not approved\r\nby IT', attribution: { appId: 'cursor', routingMode: 'gateway' }, policy: TEST_DENIED }),
        admitRequest: () => ({ decision: 'allow', policy: TEST_ALLOWED }),
      },
    });
    try {
      const raw = await rawExchange(strict.port, 'CONNECT api2.cursor.sh:443 HTTP/1.1\r\nHost: api2.cursor.sh:443\r\n\r\n');
      expect(raw).toMatch(/^HTTP\/1\.1 403/);
      expect(raw).toContain('Heimdall: Cursor is not approved by IT');
    } finally {
      await strict.close();
    }
  });
});

describe('apps that pin their certificates', () => {
  it('refuses the CONNECT itself on an intercepted host when the governor says atConnect', async () => {
    const pinned = await startProxy(heimdallCa, {
      gatewayUrl: gateway.url,
      governor: {
        admitConnection: () =>
          Promise.resolve({ decision: 'refuse', reason: 'ChatGPT desktop is denied.', atConnect: true, attribution: { appId: 'chatgpt-desktop', routingMode: 'gateway' }, policy: TEST_DENIED }),
        admitRequest: () => ({ decision: 'allow', policy: TEST_ALLOWED }),
      },
    });
    try {
      const raw = await rawExchange(pinned.port, 'CONNECT chatgpt.com:443 HTTP/1.1\r\nHost: chatgpt.com:443\r\n\r\n');
      expect(raw).toMatch(/^HTTP\/1\.1 403/);
      expect(raw).toContain('Heimdall: ChatGPT desktop is denied.');
      expect(pinned.records).toEqual([]);
    } finally {
      await pinned.close();
    }
  });
});

describe('interception', () => {
  it('closes the handshake when the SNI names another host than the CONNECT', async () => {
    await expect(tlsThrough(proxy.port, 'api.openai.com', proxy.caPem, 'claude.ai')).rejects.toThrow();
    await proxyStillServes();
  });

  it('answers 421 to a request whose Host names another host than the CONNECT, on every request of a connection', async () => {
    const t = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
    let buf = '';
    t.on('data', (d: Buffer) => { buf += d.toString('latin1'); });
    const statusOf = async (host: string): Promise<number> => {
      buf = '';
      t.write(`GET /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      // The whole answer: a Content-Length body, or a chunked one up to its last chunk.
      await vi.waitFor(() => {
        const m = /content-length: (\d+)\r\n[\s\S]*?\r\n\r\n/i.exec(buf);
        expect((m && buf.length >= m.index + m[0].length + Number(m[1])) || buf.endsWith('\r\n0\r\n\r\n')).toBeTruthy();
      });
      return Number(buf.slice(9, 12));
    };
    expect(await statusOf('api.openai.com')).toBe(200);
    expect(await statusOf('claude.ai')).toBe(421);
    expect(await statusOf('api.openai.com:443')).toBe(200);
    expect(await statusOf('api.openai.com.evil.example')).toBe(421);
    expect(await statusOf('api.openai.com')).toBe(200);
    expect(gateway.requests).toHaveLength(3);
    t.destroy();
  });

  it('offers only http/1.1 over ALPN', async () => {
    const t = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
    expect(t.alpnProtocol).toBe('http/1.1');
    expect(t.getPeerX509Certificate()?.subjectAltName).toContain('DNS:api.openai.com');
    t.destroy();
  });

  it('blocks each request in the provider error shape when the connection was refused for an intercepted host', async () => {
    const blocking = await startProxy(heimdallCa, {
      gatewayUrl: gateway.url,
      supportUrl: 'https://help.example.com/ai',
      governor: {
        admitConnection: () => Promise.resolve({ decision: 'refuse', reason: 'Gemini CLI is denied.', attribution: { appId: 'gemini-cli', routingMode: 'gateway' }, policy: TEST_DENIED }),
        admitRequest: () => ({ decision: 'allow', policy: TEST_ALLOWED }),
      },
    });
    try {
      const r = await curl(['--proxy', blocking.proxyUrl, '--cacert', blocking.caPath, 'https://generativelanguage.googleapis.com/v1beta/models', '-H', 'x-goog-api-key: k']);
      expect(r.status).toBe(403);
      const body = JSON.parse(r.body);
      expect(body.error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
      expect(body.error.message).toContain('Gemini CLI is denied.');
      expect(body.error.message).toContain('https://help.example.com/ai');
      expect(gateway.requests).toHaveLength(0);
      expect(blocking.records.at(-1)).toMatchObject({ outcome: 'blocked', status: 403, routeId: 'genai-api' });
    } finally {
      await blocking.close();
    }
  });

  it('serves a readable, escaped HTML page for a blocked browser navigation to a consumer surface', async () => {
    const blocking = await startProxy(heimdallCa, {
      gatewayUrl: gateway.url,
      governor: {
        admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { appId: 'chrome', routingMode: 'gateway' } }),
        admitRequest: (_a, reqInfo) => (reqInfo.route.id === 'claude-web' ? { decision: 'block', message: 'Use <Claude for Work> instead.', policy: TEST_DENIED } : { decision: 'allow', policy: TEST_ALLOWED }),
      },
    });
    try {
      const r = await curl(['--proxy', blocking.proxyUrl, '--cacert', blocking.caPath, 'https://claude.ai/new', '-H', 'accept: text/html,application/xhtml+xml']);
      expect(r.status).toBe(403);
      expect(r.body).toContain('<!doctype html>');
      expect(r.body).toContain('Use &lt;Claude for Work&gt; instead.');
      expect(r.body).toContain('href="https://help.example.com/ai"');
      const api = await curl(['--proxy', blocking.proxyUrl, '--cacert', blocking.caPath, 'https://claude.ai/api/organizations', '-H', 'accept: application/json']);
      expect(api.status).toBe(403);
      expect(JSON.parse(api.body).error.type).toBe('permission_error');
      // Each record carries the very decision the governor enforced, for audit to write as is.
      expect(blocking.records.map((r) => [r.outcome, r.decision])).toEqual([['blocked', TEST_DENIED], ['blocked', TEST_DENIED]]);
    } finally {
      await blocking.close();
    }
  });

  it('gives policy the request without credentials', async () => {
    const seen: Array<Record<string, string>> = [];
    const watching = await startProxy(heimdallCa, {
      gatewayUrl: gateway.url,
      gatewayCa: pki.caPem,
      governor: {
        admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { routingMode: 'gateway' } }),
        admitRequest: (_a, info) => { seen.push(info.headers); return { decision: 'allow', policy: TEST_ALLOWED }; },
      },
    });
    try {
      await curl(['--proxy', watching.proxyUrl, '--cacert', watching.caPath, 'https://api.openai.com/v1/models', '-H', 'Authorization: Bearer sk-secret', '-H', 'cookie: a=b', '-H', 'x-app: cli']);
      expect(seen).toHaveLength(1);
      expect(seen[0]!['x-app']).toBe('cli');
      expect(JSON.stringify(seen)).not.toContain('sk-secret');
      expect(JSON.stringify(seen)).not.toContain('a=b');
    } finally {
      await watching.close();
    }
  });

  it('records the request body bytes it forwarded and the reply bytes', async () => {
    const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'z'.repeat(5000) }] });
    const before = proxy.records.length;
    const r = await curl(['--proxy', proxy.proxyUrl, '--cacert', proxy.caPath, 'https://api.openai.com/v1/chat/completions', '-H', 'content-type: application/json', '--data-binary', body]);
    expect(r.status).toBe(200);
    await vi.waitFor(() => expect(proxy.records.length).toBeGreaterThan(before));
    const rec = proxy.records.at(-1)!;
    expect(rec.bytesIn).toBe(Buffer.byteLength(body));
    expect(rec.bytesOut).toBeGreaterThan(0);
  });
});

describe('streaming', () => {
  it('delivers an SSE chunk every 100 ms as separate arrivals, not one block', async () => {
    gateway.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let n = 0;
      const timer = setInterval(() => {
        res.write(`data: {"n":${n}}\n\n`);
        if (++n === 6) {
          clearInterval(timer);
          res.end('data: [DONE]\n\n');
        }
      }, 100);
    };
    const t = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
    const arrivals: number[] = [];
    let text = '';
    const start = Date.now();
    await new Promise<void>((resolve) => {
      t.on('data', (d: Buffer) => {
        const s = d.toString();
        if (s.includes('data: {')) arrivals.push(Date.now() - start);
        text += s;
        if (text.includes('[DONE]')) resolve();
      });
      t.write('POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}');
    });
    t.destroy();
    expect(text).toContain('text/event-stream');
    for (let n = 0; n < 6; n++) expect(text).toContain(`data: {"n":${n}}`);
    // Arrivals spread over time (at least four distinct reads), not a single buffered block.
    expect(new Set(arrivals).size).toBeGreaterThanOrEqual(4);
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThan(0);
  });

  it('carries a websocket echo (Codex GET /v1/responses upgrade) to the gateway route', async () => {
    const t = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
    const ws = new WebSocket('wss://api.openai.com/v1/responses', {
      headers: { authorization: 'Bearer sk-app', 'openai-beta': 'responses_websockets=2026-02-06' },
      createConnection: () => t,
    });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hello'));
      ws.once('message', (d: Buffer) => resolve(d.toString()));
      ws.once('error', reject);
    });
    ws.close();
    expect(reply).toBe('echo:hello');
    const upgrade = gateway.requests.find((r) => r.method === 'WS')!;
    expect(upgrade.url).toBe('/openai/v1/responses');
    expect(upgrade.headers.authorization).toBe('Bearer sk-bf-test-virtual-key');
    expect(upgrade.headers['openai-beta']).toBe('responses_websockets=2026-02-06');
  });
});

describe('websocket refusals and abandoned streams', () => {
  it("relays the gateway's refusal of a websocket upgrade (401 and its body) to the app", async () => {
    const { cert, key } = pki.issue('refusing-gateway', ['gateway.test']);
    const refusing = https.createServer({ cert, key });
    refusing.on('upgrade', (_req, socket: net.Socket) => {
      const body = JSON.stringify({ error: { message: 'virtual key revoked' } });
      socket.end(`HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    const p = await startProxy(heimdallCa, { gatewayUrl: `https://127.0.0.1:${(refusing.address() as net.AddressInfo).port}`, gatewayCa: pki.caPem });
    try {
      const t = await tlsThrough(p.port, 'api.openai.com', p.caPem);
      const ws = new WebSocket('wss://api.openai.com/v1/responses', { createConnection: () => t });
      const refusal = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        ws.once('open', () => reject(new Error('the upgrade was accepted')));
        ws.once('error', () => undefined);
      });
      expect(refusal.status).toBe(401);
      expect(JSON.parse(refusal.body)).toEqual({ error: { message: 'virtual key revoked' } });
      await vi.waitFor(() => expect(p.records.at(-1)).toMatchObject({ transport: 'websocket', status: 401, outcome: 'forwarded' }));
    } finally {
      await p.close();
      refusing.closeAllConnections();
      refusing.close();
    }
  });

  it('stops the upstream request when the app abandons a stream', async () => {
    let upstreamClosed = false;
    gateway.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      const timer = setInterval(() => res.write('data: more\n\n'), 50);
      res.once('close', () => {
        clearInterval(timer);
        upstreamClosed = true;
      });
    };
    const t = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
    t.write('POST /v1/chat/completions HTTP/1.1\r\nhost: api.openai.com\r\ncontent-length: 2\r\n\r\n{}');
    await new Promise<void>((resolve) => t.on('data', (d: Buffer) => { if (d.toString().includes('data: first')) resolve(); }));
    t.destroy();
    await vi.waitFor(() => expect(upstreamClosed).toBe(true), { timeout: 2000 });
    await vi.waitFor(() => expect(proxy.records.at(-1)).toMatchObject({ outcome: 'error', status: 200 }));
    // A gateway that answers (this test's handler streams forever, and curl would wait it out).
    gateway.handler = (_req, res) => res.end('{}');
    await proxyStillServes();
  });
});

describe('gateway failures', () => {
  it('answers 502 in the provider shape with the support URL when the gateway is down', async () => {
    const port = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
    const down = await startProxy(heimdallCa, { gatewayUrl: `https://127.0.0.1:${port}` });
    try {
      const r = await curl(['--proxy', down.proxyUrl, '--cacert', down.caPath, 'https://api.anthropic.com/v1/messages', '-d', '{}']);
      expect(r.status).toBe(502);
      const body = JSON.parse(r.body);
      expect(body).toMatchObject({ type: 'error', error: { type: 'api_error' } });
      expect(body.error.message).toContain("could not reach your organization's AI gateway");
      expect(body.error.message).toContain('https://help.example.com/ai');
      expect(down.records.at(-1)).toMatchObject({ outcome: 'error', status: 502 });
    } finally {
      await down.close();
    }
  });

  it('turns a tar-pitted gateway into a 504 after the configured timeout, not a hang', async () => {
    const pit = net.createServer((s) => { s.on('error', () => undefined); }); // accepts, never answers
    await new Promise<void>((r) => pit.listen(0, '127.0.0.1', r));
    const slow = await startProxy(heimdallCa, {
      gatewayUrl: `http://127.0.0.1:${(pit.address() as net.AddressInfo).port}`,
      forwardTimeouts: { responseHeadersMs: 600 },
    });
    try {
      const r = await curl(['--proxy', slow.proxyUrl, '--cacert', slow.caPath, 'https://api.openai.com/v1/chat/completions', '-d', '{}']);
      expect(r.status).toBe(504);
      expect(JSON.parse(r.body).error).toMatchObject({ type: 'server_error', code: 'heimdall_gateway_timeout' });
    } finally {
      await slow.close();
      pit.close();
    }
  });

  it('cuts a stream that goes silent mid-way after the idle timeout', async () => {
    const idle = await startProxy(heimdallCa, { gatewayUrl: gateway.url, gatewayCa: pki.caPem, forwardTimeouts: { idleStreamMs: 500 } });
    gateway.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n'); // then silence
    };
    try {
      const r = await curl(['--proxy', idle.proxyUrl, '--cacert', idle.caPath, 'https://api.openai.com/v1/chat/completions', '-d', '{}']);
      expect(r.body).toContain('data: first');
      expect(r.code).not.toBe(0); // curl reports the cut transfer
      // The audit record is written when the proxy finishes tearing the exchange down, which can come
      // just after curl has seen the cut.
      await vi.waitFor(() => expect(idle.records.at(-1)?.outcome).toBe('error'), { timeout: 5000 });
    } finally {
      await idle.close();
    }
  });
});

describe('hostile and broken clients', () => {
  it('answers a malformed CONNECT with 400 and keeps serving', async () => {
    for (const bad of ['CONNECT nonsense HTTP/1.1\r\n\r\n', 'CONNECT api.openai.com:99999 HTTP/1.1\r\n\r\n', 'CONNECT :443 HTTP/1.1\r\n\r\n', 'CONNECT a b c\r\n\r\n']) {
      const raw = await rawExchange(proxy.port, bad);
      expect(raw).toMatch(/^HTTP\/1\.1 400/);
    }
    await proxyStillServes();
  });

  it('answers a header flood with 431 and keeps serving', async () => {
    const flood = `GET http://example.invalid/ HTTP/1.1\r\nHost: example.invalid\r\n${'x-junk: ' + 'a'.repeat(1000) + '\r\n'}`.repeat(1) +
      Array.from({ length: 60 }, (_, i) => `x-flood-${i}: ${'b'.repeat(1000)}\r\n`).join('') + '\r\n';
    const raw = await rawExchange(proxy.port, flood);
    expect(raw).toMatch(/^HTTP\/1\.1 431/);
    await proxyStillServes();
  });

  it('answers a header flood inside an intercepted connection with 431', async () => {
    const t = await tlsThrough(proxy.port, 'api.openai.com', proxy.caPem);
    const reply = await new Promise<string>((resolve) => {
      let b = '';
      t.on('data', (d) => { b += String(d); });
      t.on('close', () => resolve(b));
      t.on('error', () => resolve(b));
      t.write(`GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n${Array.from({ length: 40 }, (_, i) => `x-f${i}: ${'c'.repeat(1000)}\r\n`).join('')}\r\n`);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 431/);
  });

  it('answers a client that sends half a request with 408 after the header timeout, while others are served', async () => {
    const pending = rawExchange(proxy.port, 'GET http://example.invalid/ HTTP/1.1\r\nHost: exa', 15_000);
    await proxyStillServes();
    const raw = await pending;
    expect(raw).toMatch(/^HTTP\/1\.1 408/);
  });

  it('rejects garbage bytes with 400', async () => {
    const raw = await rawExchange(proxy.port, '\x16\x03\x01\x00\xa5garbage\r\n\r\n');
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    await proxyStillServes();
  });

  it('answers requests for other paths on the proxy port with 404 and a hint', async () => {
    const r = await curl([`http://127.0.0.1:${proxy.port}/`]);
    expect(r.status).toBe(404);
    expect(r.body).toContain('Heimdall local proxy');
  });
});

describe('plain http proxying', () => {
  it('forwards an http:// request for another host unchanged', async () => {
    const plain = (await import('node:http')).createServer((req, res) => res.end(`plain:${req.url}:${req.headers.host}`));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const port = (plain.address() as net.AddressInfo).port;
      const r = await curl(['--proxy', proxy.proxyUrl, `http://127.0.0.1:${port}/x?y=1`]);
      expect(r.status).toBe(200);
      expect(r.body).toBe(`plain:/x?y=1:127.0.0.1:${port}`);
    } finally {
      plain.close();
    }
  });

  it('governs http:// requests to routing-table hosts like intercepted ones', async () => {
    const r = await curl(['--proxy', proxy.proxyUrl, 'http://api.openai.com/v1/models', '-H', 'Authorization: Bearer sk-app']);
    expect(r.status).toBe(200);
    expect(gateway.requests.at(-1)?.url).toBe('/openai/v1/models');
    expect(gateway.requests.at(-1)?.headers.authorization).toBe('Bearer sk-bf-test-virtual-key');
  });
});

describe('draining', () => {
  it('tracks connections and drains: idle ones close, a long stream is cut at the deadline', async () => {
    const clock = new ManualClock();
    const p = await startProxy(heimdallCa, { gatewayUrl: gateway.url, gatewayCa: pki.caPem, clock });
    gateway.handler = (_req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.write('data: 1\n\n'); };
    const idle = await tlsThrough(p.port, 'api.openai.com', p.caPem);
    const busy = await tlsThrough(p.port, 'api.openai.com', p.caPem);
    await new Promise<void>((r) => { busy.once('data', () => r()); busy.write('POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\ncontent-length: 0\r\n\r\n'); });
    expect(p.proxy.activeConnections()).toBe(2);
    const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));
    const busyClosed = new Promise<void>((r) => busy.once('close', () => r()));
    busy.on('error', () => undefined);
    idle.on('error', () => undefined);
    const draining = p.proxy.drain(clock.now() + 60_000);
    // The idle connection closes now; the stream holds the drain until its deadline, and not before.
    await idleClosed;
    await vi.waitFor(() => expect(p.proxy.activeConnections()).toBe(1));
    clock.advance(59_999);
    expect(p.proxy.activeConnections()).toBe(1);
    clock.advance(1);
    const result = await draining;
    await busyClosed;
    expect(result.cut).toBe(1);
    expect(p.proxy.activeConnections()).toBe(0);
    const refused = await new Promise<string>((r) => {
      const s = net.connect(p.port, '127.0.0.1');
      s.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
      s.on('connect', () => { s.destroy(); r('connected'); });
    });
    expect(refused).toBe('ECONNREFUSED');
    await p.close();
  });

  it('reports stats per route and decision', async () => {
    // Its own proxy: the counts are this test's requests, whatever ran before it.
    const p = await startProxy(heimdallCa, {
      gatewayUrl: gateway.url,
      gatewayCa: pki.caPem,
      governor: {
        admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { appId: 'curl', routingMode: 'gateway' } }),
        admitRequest: (_a, info) => (info.path === '/v1/models' ? { decision: 'block', message: 'no listing', policy: TEST_DENIED } : { decision: 'allow', policy: TEST_ALLOWED }),
      },
    });
    try {
      for (const path of ['/v1/chat/completions', '/v1/chat/completions', '/v1/models']) {
        await curl(['--proxy', p.proxyUrl, '--cacert', p.caPath, `https://api.openai.com${path}`, '-d', '{}']);
      }
      const exchanges = p.proxy.stats().exchanges.sort((a, b) => a.decision.localeCompare(b.decision));
      expect(exchanges).toEqual([
        { route: 'openai-api', decision: 'blocked', count: 1 },
        { route: 'openai-api', decision: 'forwarded', count: 2 },
      ]);
      expect(p.proxy.stats()).toMatchObject({ tunnelsOpened: 0, connectionsRefused: 0, clientErrors: 0 });
    } finally {
      await p.close();
    }
  });
});
