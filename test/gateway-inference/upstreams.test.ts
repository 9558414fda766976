// Where requests go and what happens when the upstream fails: upstream Bifrost mode keeps the path
// and sends the virtual key on; a dead upstream is a 502, a silent one a 504, in the provider shape.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { startDemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { DEVICE_TOKEN_HEADER } from '../../protocol/index.ts';
import { closeServer, DEVICE_TOKEN, listen, postJson, PROVIDER_KEYS, startGateway, startGatewayWithDemo, VK, type Gateway } from './harness.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function gateway(section: Parameters<typeof startGateway>[0], clock?: ManualClock): Promise<Gateway> {
  const gw = await startGateway(section, undefined, clock ? { clock } : {});
  cleanups.push(() => gw.close());
  return gw;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A server that accepts connections and never says a word. */
async function tarPit(): Promise<string> {
  const sockets = new Set<net.Socket>();
  const s = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((r) => s.close(() => r()));
  });
  return `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`;
}

describe('upstream failures', () => {
  it('answers 502 in each provider shape when the upstream is down', async () => {
    const base = `http://127.0.0.1:${await deadPort()}`;
    const gw = await gateway({ providers: { openai: { base_url: base, api_key: 'env.T_OPENAI_KEY' }, anthropic: { base_url: base, api_key: 'env.T_ANTHROPIC_KEY' }, genai: { base_url: base, api_key: 'env.T_GENAI_KEY' } } });
    const o = await postJson(`${gw.url}/openai/v1/chat/completions`, { model: 'x', messages: [] }, { authorization: `Bearer ${VK}` });
    expect(o.status).toBe(502);
    expect(o.json.error).toMatchObject({ type: 'server_error', code: 'bad_gateway' });
    expect(o.json.error.message).toMatch(/could not reach the upstream .*ECONNREFUSED/);
    const a = await postJson(`${gw.url}/anthropic/v1/messages`, { model: 'x' }, { 'x-api-key': VK });
    expect(a.status).toBe(502);
    expect(a.json).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    const g = await postJson(`${gw.url}/genai/v1beta/models/m:generateContent`, {}, { 'x-goog-api-key': VK });
    expect(g.status).toBe(502);
    expect(g.json.error).toMatchObject({ code: 502, status: 'UNAVAILABLE' });
    const events = await gw.waitForEvents(3);
    expect(events.map((e) => [e.status, e.outcome, e.error])).toEqual([
      [502, 'upstream_unreachable', 'ECONNREFUSED'],
      [502, 'upstream_unreachable', 'ECONNREFUSED'],
      [502, 'upstream_unreachable', 'ECONNREFUSED'],
    ]);
  });

  it('answers 504 when the upstream accepts but never answers', async () => {
    const base = await tarPit();
    const clock = new ManualClock();
    const gw = await gateway({ providers: { anthropic: { base_url: base, api_key: 'env.T_ANTHROPIC_KEY' } }, timeouts: { headers_ms: 300 } }, clock);
    const answer = postJson(`${gw.url}/anthropic/v1/messages`, { model: 'x' }, { 'x-api-key': VK });
    // Sent in full: the headers limit is the one running (connect 10 s and upload 300 s are not 300 ms).
    await vi.waitFor(() => expect(clock.nextDueInMs).toBe(300));
    clock.advance(300);
    const a = await answer;
    expect(a.status).toBe(504);
    expect(a.json).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    expect(a.json.error.message).toMatch(/did not answer within 300 ms/);
    const [e] = await gw.waitForEvents(1);
    expect(e).toMatchObject({ status: 504, outcome: 'upstream_timeout', error: 'headers_timeout' });
  });

  it('cuts a stream that goes silent after it started', async () => {
    const sockets = new Set<net.Socket>();
    const stall = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"first":true}\n\n');
    });
    stall.on('connection', (s) => sockets.add(s));
    const base = await listen(stall);
    cleanups.push(() => closeServer(stall));
    const clock = new ManualClock();
    const gw = await gateway({ providers: { openai: { base_url: base, api_key: 'env.T_OPENAI_KEY' } }, timeouts: { idle_ms: 300 } }, clock);
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${VK}` }, body: '{"stream":true}' });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('"first":true');
    // The request body is done (its own idle limit cleared): the one timer left is the response's idle limit.
    await vi.waitFor(() => expect([clock.pendingTimers, clock.nextDueInMs]).toEqual([1, 300]));
    clock.advance(300);
    await expect(reader.read()).rejects.toThrow();
    const [e] = await gw.waitForEvents(1);
    expect(e).toMatchObject({ status: 200, outcome: 'stream_interrupted', error: 'idle_timeout' });
  });
});

describe('the answer as it arrives', () => {
  it('sends the response head to the client while the upstream holds the first token back', async () => {
    let releaseBody: (() => void) | undefined;
    const slow = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      // The body waits until the client has seen the head: were the head held for the body, this never ends.
      releaseBody = () => res.end('data: {"late":true}\n\n');
    });
    const base = await listen(slow);
    cleanups.push(() => closeServer(slow));
    const gw = await gateway({ providers: { openai: { base_url: base, api_key: 'env.T_OPENAI_KEY' } } });
    const res = await fetch(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${VK}` }, body: '{"stream":true}' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    releaseBody!();
    expect(await res.text()).toContain('"late":true');
  });
});

describe('bodies larger than the sockets hold', () => {
  // The gateway relays both bodies by hand (no pipe()): it must pause the side that sends when the
  // side that receives is full, and lose nothing. Each reader here starts only once the gateway has
  // paused its sender; were the pause missing, the gateway would buffer the whole body and the reader
  // would never be started (the test would time out).
  it('pauses the client when the upstream does not read, and the upstream when the client does not, byte for byte', async () => {
    const SIZE = 24 * 2 ** 20;
    const requestBody = Buffer.alloc(SIZE, 'q');
    const responseBody = Buffer.alloc(SIZE, 'r');
    const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    let pausedRequest: () => void = () => {};
    const requestPaused = new Promise<void>((resolve) => (pausedRequest = resolve));
    let pausedResponse: () => void = () => {};
    const responsePaused = new Promise<void>((resolve) => (pausedResponse = resolve));
    const pause = Reflect.get<http.IncomingMessage, 'pause'>(http.IncomingMessage.prototype, 'pause');
    const spy = vi.spyOn(http.IncomingMessage.prototype, 'pause').mockImplementation(function (this: http.IncomingMessage) {
      // The gateway's side of each leg: the client's request as it arrived, the upstream's answer.
      if (this.url === '/openai/v1/chat/completions') pausedRequest();
      if ((this as http.IncomingMessage & { req?: http.ClientRequest }).req?.path === '/v1/chat/completions') pausedResponse();
      return pause.call(this);
    });
    cleanups.push(() => {
      spy.mockRestore();
      return Promise.resolve();
    });

    let received: Buffer | undefined;
    const upstream = http.createServer((req, res) => {
      void requestPaused.then(() => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          received = Buffer.concat(chunks);
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) });
          res.end(responseBody);
        });
      });
    });
    const base = await listen(upstream);
    cleanups.push(() => closeServer(upstream));
    const gw = await gateway({ providers: { openai: { base_url: base, api_key: 'env.T_OPENAI_KEY' } } });

    const u = new URL(`${gw.url}/openai/v1/chat/completions`);
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request(
        { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: `Bearer ${VK}`, 'content-length': String(SIZE) } },
        (res) => {
          void responsePaused.then(() => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
          });
        },
      );
      req.on('error', reject);
      req.end(requestBody);
    });

    expect(digest(received!)).toBe(digest(requestBody));
    expect(digest(answer)).toBe(digest(responseBody));
    const [e] = await gw.waitForEvents(1);
    expect(e).toMatchObject({ status: 200, outcome: 'ok', bytesIn: SIZE, bytesOut: SIZE });
  });
});

describe('headers on the way through', () => {
  it('drops hop-by-hop headers and the ones Connection names, both ways, and the provider cookies', async () => {
    let seen: http.IncomingHttpHeaders | undefined;
    const upstream = http.createServer((req, res) => {
      seen = req.headers;
      req.resume();
      req.on('end', () => {
        res.writeHead(200, [
          'Content-Type', 'application/json',
          'Connection', 'keep-alive, X-Up-Hop',
          'X-Up-Hop', 'a',
          'X-Up-Kept', 'b',
          'Set-Cookie', 'session=org-account',
          'Keep-Alive', 'timeout=99',
        ]);
        res.end('{}');
      });
    });
    const base = await listen(upstream);
    cleanups.push(() => closeServer(upstream));
    const gw = await gateway({ providers: { openai: { base_url: base, api_key: 'env.T_OPENAI_KEY' } } });
    const u = new URL(`${gw.url}/openai/v1/chat/completions`);
    const answer = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: { authorization: `Bearer ${VK}`, connection: 'keep-alive, x-client-hop', 'x-client-hop': '1', 'x-client-kept': '2', te: 'trailers', 'content-length': '2' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(seen!['x-client-kept']).toBe('2');
    expect(seen!['x-client-hop']).toBeUndefined();
    expect(seen!['te']).toBeUndefined();
    expect(seen!['authorization']).toBe(`Bearer ${PROVIDER_KEYS.openai}`);
    expect(answer.headers['x-up-kept']).toBe('b');
    expect(answer.headers['x-up-hop']).toBeUndefined();
    expect(answer.headers['set-cookie']).toBeUndefined();
    expect(answer.headers['keep-alive']).not.toBe('timeout=99');
    expect(answer.headers['x-heimdall-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('TLS to the upstream', () => {
  it('verifies the upstream certificate: an untrusted one is a 502, never a silent downgrade', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-inference-tls-'));
    cleanups.push(() => Promise.resolve(fs.rmSync(dir, { recursive: true, force: true })));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    let reached = false;
    const server = https.createServer({ key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')) }, (_req, res) => {
      reached = true;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const gw = await gateway({ providers: { openai: { base_url: `https://127.0.0.1:${port}`, api_key: 'env.T_OPENAI_KEY' } } });
    const r = await postJson(`${gw.url}/openai/v1/chat/completions`, {}, { authorization: `Bearer ${VK}` });
    expect(r.status).toBe(502);
    expect(r.json.error.message).toMatch(/SELF_SIGNED/);
    expect(reached).toBe(false);
  });
});

describe('clients that leave', () => {
  it('records a client that leaves while its key is being checked, and forwards nothing', async () => {
    const demo = await startDemoUpstream({ keys: { openai: PROVIDER_KEYS.openai } });
    cleanups.push(() => demo.close());
    let checking!: () => void;
    const checkStarted = new Promise<void>((resolve) => (checking = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const beforeVerify = () => {
      checking();
      return released;
    };
    const gw = await startGateway({ providers: { openai: { base_url: demo.url, api_key: 'env.T_OPENAI_KEY' } } }, undefined, { beforeVerify });
    cleanups.push(() => gw.close());
    const client = http.request(`${gw.url}/openai/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${VK}` }, agent: false });
    const clientGone = new Promise<void>((resolve) => client.on('close', resolve));
    client.on('error', () => {});
    client.end('{}');
    await checkStarted;
    client.destroy();
    await clientGone;
    // The gateway has seen the connection close while the key check is still held open; then it answers.
    await vi.waitFor(() => expect(gw.openConnections()).toBe(0));
    release();
    const [e] = await gw.waitForEvents(1);
    expect(e).toMatchObject({ status: 0, outcome: 'client_aborted', userId: 'user-alice' });
    expect(demo.received).toEqual([]);
  });
});

describe('pooled upstream connections', () => {
  it("closes an idle upstream connection before the upstream's announced keep-alive limit runs out", async () => {
    // A bare HTTP/1.1 upstream that announces `Keep-Alive: timeout=2` and then never closes: only the
    // gateway can end the connection, and it must, or its next request would race the upstream's close.
    const closed: Promise<void>[] = [];
    const s = net.createServer((sock) => {
      sock.on('error', () => {});
      closed.push(new Promise((resolve) => sock.once('close', () => resolve())));
      let buf = '';
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.slice(end + 4 + length);
        const body = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [] });
        sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nkeep-alive: timeout=2\r\n\r\n${body}`);
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => s.close(() => r())));
    const gw = await gateway({ providers: { openai: { base_url: `http://127.0.0.1:${(s.address() as net.AddressInfo).port}`, api_key: 'env.T_OPENAI_KEY' } } });
    const answer = await postJson(`${gw.url}/openai/v1/chat/completions`, { model: 'x', messages: [] }, { authorization: `Bearer ${VK}` });
    expect(answer.status).toBe(200);
    expect(closed).toHaveLength(1);
    await closed[0];
  });
});

describe('upstream Bifrost (bifrost_url)', () => {
  it('forwards the route path unchanged with the virtual key in x-bf-vk', async () => {
    const seen: { url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
    const bifrost = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"from":"bifrost"}');
      });
    });
    const base = await listen(bifrost);
    cleanups.push(() => closeServer(bifrost));
    const gw = await gateway({ bifrost_url: `${base}/gw` });

    const o = await postJson(`${gw.url}/openai/v1/chat/completions?x=1`, { model: 'gpt' }, { authorization: `Bearer ${VK}`, [DEVICE_TOKEN_HEADER]: DEVICE_TOKEN, 'x-bf-dim-app': 'cursor', 'x-bf-dim-device': 'dev-claimed' });
    expect(o.json).toEqual({ from: 'bifrost' });
    await postJson(`${gw.url}/anthropic/v1/messages`, { model: 'claude' }, { 'x-api-key': VK, 'x-bf-dim-device': 'dev-claimed' });
    await postJson(`${gw.url}/genai_passthrough/v1beta/models/g:generateContent`, {}, { 'x-goog-api-key': VK });

    expect(seen.map((s) => s.url)).toEqual(['/gw/openai/v1/chat/completions?x=1', '/gw/anthropic/v1/messages', '/gw/genai_passthrough/v1beta/models/g:generateContent']);
    for (const s of seen) {
      expect(s.headers['x-bf-vk']).toBe(VK);
      expect(s.headers['authorization']).toBeUndefined();
      expect(s.headers['x-api-key']).toBeUndefined();
      expect(s.headers['x-goog-api-key']).toBeUndefined();
    }
    // Attribution headers are Bifrost's own vocabulary: they go on to it, as the gateway established
    // them (the device its token proved, that device's app claim), never as a client claimed them.
    expect(seen[0]!.headers['x-bf-dim-app']).toBe('cursor');
    expect(seen[0]!.headers['x-bf-dim-device']).toBe('dev-7f3a');
    expect(seen[0]!.headers[DEVICE_TOKEN_HEADER]).toBeUndefined();
    expect(seen[1]!.headers['x-bf-dim-device']).toBeUndefined();
    expect(seen[0]!.body).toBe('{"model":"gpt"}');
    const events = await gw.waitForEvents(3);
    expect(events.every((e) => e.upstream === 'bifrost' && e.status === 200)).toBe(true);
  });
});

function rawPost(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const path = url.slice(u.origin.length);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'POST', headers: { ...headers, 'content-length': 2 } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

describe('requests the gateway refuses itself', () => {
  it('answers 404 for an endpoint a drop-in route does not serve, 400 for an unsafe passthrough path', async () => {
    const env = await startGatewayWithDemo();
    cleanups.push(() => env.close());
    const before = env.demo.received.length;
    const unknown = await postJson(`${env.gateway.url}/openai/v1/fine_tuning/jobs`, {}, { authorization: `Bearer ${VK}` });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe('unknown_url');
    // Sent with node:http, which (unlike fetch) does not resolve dot segments before sending.
    for (const path of ['/openai_passthrough/v1/%2e%2e/admin', '/openai_passthrough/v1/../../admin', '/anthropic_passthrough/evil@host/v1/messages']) {
      const r = await rawPost(`${env.gateway.url}${path}`, { authorization: `Bearer ${VK}`, 'x-api-key': VK });
      expect(r.status, path).toBe(400);
      expect(JSON.parse(r.body).error.message).toMatch(/is not allowed/);
    }
    expect(env.demo.received.length).toBe(before);
  });

  it('answers 503 for a provider this gateway has no upstream for, and leaves other paths alone', async () => {
    const gw = await gateway({ providers: {} });
    const r = await postJson(`${gw.url}/genai/v1beta/models/m:generateContent`, {}, { 'x-goog-api-key': VK });
    expect(r.status).toBe(503);
    expect(r.json.error.message).toMatch(/no upstream is configured for genai/);
    const other = await fetch(`${gw.url}/admin/v1/settings`);
    expect(await other.text()).toBe('not an inference route');
    // A prefix only matches whole segments.
    expect(await (await fetch(`${gw.url}/openaiX/v1/models`)).text()).toBe('not an inference route');
  });
});
