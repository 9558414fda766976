// The gateway leg's own HTTP/1.1 client against real TLS servers: a Node https server for the
// well-behaved cases, raw TLS servers that write exact bytes for the broken ones.
import crypto from 'node:crypto';
import dns from 'node:dns';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ForwardTimeoutError, GatewayClient, type GatewayRequest } from '../../agent/src/forward/gateway-client.ts';
import { ResponseParseError, type ResponseHead } from '../../agent/src/forward/response-parser.ts';
import { createTestPki, tempDir, type TestPki } from '../intercept/harness.ts';

let dir: string;
let pki: TestPki;
let cert: { cert: string; key: string };
let trust: tls.SecureContext;

beforeAll(() => {
  dir = tempDir('heimdall-gwclient-');
  pki = createTestPki(dir);
  cert = pki.issue('gw', ['gateway.test']);
  trust = tls.createSecureContext({ ca: pki.caPem });
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  head?: ResponseHead;
  body: string;
  error?: NodeJS.ErrnoException;
}

interface ClientKnobs { connectTimeoutMs?: number; maxConnections?: number; idleConnectionMs?: number }

function client(port: number, options: ClientKnobs = {}): GatewayClient {
  return new GatewayClient({
    origin: new URL(`https://127.0.0.1:${port}`), secureContext: trust, lookup: dns.lookup,
    ...options,
    connectTimeoutMs: options.connectTimeoutMs ?? 5000,
  });
}

/** Runs `fn` with a client for the server on `port`, then closes both. */
async function withClient(server: { close(): unknown }, port: number, fn: (c: GatewayClient) => Promise<void> | void, options: ClientKnobs = {}): Promise<void> {
  const c = client(port, options);
  try {
    await fn(c);
  } finally {
    c.close();
    server.close();
  }
}

function send(c: GatewayClient, request: Partial<GatewayRequest> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { body: '' };
    c.request({ method: 'POST', path: '/v1/chat', headers: { host: 'gateway.test', 'content-length': '2' }, body: Readable.from([Buffer.from('{}')]), ...request }, {
      head: (h) => { out.head = h; },
      body: (chunk) => { out.body += chunk.toString(); return true; },
      end: () => resolve(out),
      fail: (err) => resolve({ ...out, error: err }),
    });
  });
}

/** An https server that counts connections and echoes what it got. */
async function startEcho(keepAliveTimeout = 5000): Promise<{ server: https.Server; port: number; connections: () => number; seen: Array<{ url: string | undefined; headers: Record<string, unknown>; body: string }> }> {
  let connections = 0;
  const seen: Array<{ url: string | undefined; headers: Record<string, unknown>; body: string }> = [];
  const server = https.createServer({ ...cert, keepAliveTimeout }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, body });
      const reply = JSON.stringify({ path: req.url, body });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) });
      res.end(reply);
    });
  });
  server.on('secureConnection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, connections: () => connections, seen };
}

/** A TLS server that answers every request with exactly `reply` (after reading the request head). */
async function startRaw(reply: (n: number) => string | undefined): Promise<{ server: tls.Server; port: number; connections: () => number }> {
  let connections = 0;
  let requests = 0;
  const server = tls.createServer(cert, (socket) => {
    connections++;
    let buf = '';
    socket.on('error', () => undefined);
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      buf = '';
      const r = reply(++requests);
      if (r !== undefined) socket.write(r);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

describe('with a well-behaved gateway', () => {
  it('sends the head and body, and carries sequential requests on one kept-alive connection', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, async (c) => {
      for (let i = 0; i < 5; i++) {
        const r = await send(c, { path: `/v1/chat?i=${i}`, headers: { host: 'gateway.test', 'content-length': '2', 'x-bf-vk': 'sk-bf-1' } });
        expect(r.error).toBeUndefined();
        expect(r.head).toMatchObject({ status: 200, keepAlive: true, keepAliveTimeoutS: 5 });
        expect(JSON.parse(r.body)).toEqual({ path: `/v1/chat?i=${i}`, body: '{}' });
      }
      expect(gw.connections()).toBe(1);
      expect(gw.seen[0]!.headers).toMatchObject({ host: 'gateway.test', 'x-bf-vk': 'sk-bf-1' });
      expect(c.connections).toEqual({ open: 1, idle: 1, waiting: 0 });
    });
  });

  it('frames a body of unknown length as chunked, and it arrives whole', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, async (c) => {
      const parts = ['{"messages":', '[1,2,3]', '}'];
      const r = await send(c, { headers: { host: 'gateway.test' }, body: Readable.from(parts.map((p) => Buffer.from(p))) });
      expect(JSON.parse(r.body)).toMatchObject({ body: parts.join('') });
      expect(gw.seen[0]!.headers['transfer-encoding']).toBe('chunked');
    });
  });

  it('sends a body already in hand with the head, declaring its length when the app did not', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, async (c) => {
      const r = await send(c, { headers: { host: 'gateway.test' }, body: Buffer.from('{"in":"hand"}') });
      expect(JSON.parse(r.body)).toMatchObject({ body: '{"in":"hand"}' });
      expect(gw.seen[0]!.headers).toMatchObject({ 'content-length': '13' });
      expect(gw.seen[0]!.headers['transfer-encoding']).toBeUndefined();
    });
  });

  it('stops using an idle connection a second before the gateway says it would close it', async () => {
    const gw = await startEcho(1500); // Keep-Alive: timeout=1 -> not reused at all
    await withClient(gw.server, gw.port, async (c) => {
      await send(c);
      await send(c);
      expect(gw.connections()).toBe(2);
      expect(c.connections.idle).toBe(0);
    });
  });

  it('resumes the TLS session on a new connection instead of repeating the full handshake', async () => {
    const gw = await startEcho(1500); // Keep-Alive: timeout=1 -> a connection per request
    const resumed: boolean[] = [];
    gw.server.on('secureConnection', (socket: tls.TLSSocket) => resumed.push(socket.isSessionReused()));
    await withClient(gw.server, gw.port, async (c) => {
      for (let i = 0; i < 3; i++) expect((await send(c)).head?.status).toBe(200);
      expect(resumed).toEqual([false, true, true]);
    });
  });

  it('falls back to a full handshake when the gateway no longer accepts its ticket, and resumes the new session', async () => {
    const gw = await startEcho(1500);
    const resumed: boolean[] = [];
    gw.server.on('secureConnection', (socket: tls.TLSSocket) => resumed.push(socket.isSessionReused()));
    await withClient(gw.server, gw.port, async (c) => {
      expect((await send(c)).head?.status).toBe(200);
      gw.server.setTicketKeys(crypto.randomBytes(48)); // as a restarted gateway would have
      expect((await send(c)).head?.status).toBe(200);
      expect((await send(c)).head?.status).toBe(200);
      expect(resumed).toEqual([false, false, true]);
    });
  });

  it('keeps one connection per concurrent request past 64: 100 at a time for 5 rounds open 100 connections, not one per request', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, async (c) => {
      for (let round = 0; round < 5; round++) {
        const outcomes = await Promise.all(Array.from({ length: 100 }, () => send(c)));
        expect(outcomes.every((o) => o.head?.status === 200)).toBe(true);
      }
      expect(gw.seen).toHaveLength(500);
      expect(gw.connections()).toBe(100);
      expect(c.connections).toEqual({ open: 100, idle: 100, waiting: 0 });
    });
  });

  it('never opens more than maxConnections: the requests past it wait for a free connection and all complete', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, async (c) => {
      const pending = Array.from({ length: 30 }, () => send(c));
      expect(c.connections).toEqual({ open: 8, idle: 0, waiting: 22 });
      const outcomes = await Promise.all(pending);
      expect(outcomes.map((o) => o.head?.status)).toEqual(Array.from({ length: 30 }, () => 200));
      expect(gw.connections()).toBe(8);
      expect(c.connections).toEqual({ open: 8, idle: 8, waiting: 0 });
    }, { maxConnections: 8 });
  });

  it('skips a waiting request the app gave up on: it is never sent', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, async (c) => {
      const first = send(c, { path: '/v1/first' });
      let abandonedHeard = false;
      const abandoned = c.request({ method: 'POST', path: '/v1/abandoned', headers: { host: 'gateway.test' }, body: Buffer.from('{}') }, {
        head: () => { abandonedHeard = true; }, body: () => true, end: () => { abandonedHeard = true; }, fail: () => { abandonedHeard = true; },
      });
      const third = send(c, { path: '/v1/third' });
      abandoned.abort();
      expect((await first).head?.status).toBe(200);
      expect((await third).head?.status).toBe(200);
      expect(gw.seen.map((r) => r.url)).toEqual(['/v1/first', '/v1/third']);
      expect(gw.connections()).toBe(1);
      expect(abandonedHeard).toBe(false);
    }, { maxConnections: 1 });
  });

  it('shrinks back when demand drops: idle connections close after the idle time', async () => {
    const gw = await startEcho(600_000);
    let closed = 0;
    const allClosed = new Promise<void>((resolve) => {
      gw.server.on('secureConnection', (socket: tls.TLSSocket) => socket.once('close', () => { if (++closed === 20) resolve(); }));
    });
    await withClient(gw.server, gw.port, async (c) => {
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => send(c)));
      expect(outcomes.every((o) => o.head?.status === 200)).toBe(true);
      expect(gw.connections()).toBe(20);
      // Nothing closes them but the client's idle timer: the server would keep them for 10 minutes.
      await allClosed;
      await vi.waitFor(() => expect(c.connections).toEqual({ open: 0, idle: 0, waiting: 0 }));
    }, { idleConnectionMs: 300 });
  });

  it('refuses a header value with a line break before opening any connection', async () => {
    const gw = await startEcho();
    await withClient(gw.server, gw.port, (c) => {
      expect(() => c.request({ method: 'GET', path: '/v1/models', headers: { 'x-bf-vk': 'sk\r\nx-evil: 1' }, body: null }, {
        head: () => undefined, body: () => true, end: () => undefined, fail: () => undefined,
      })).toThrow(/cannot send header x-bf-vk/);
      expect(gw.connections()).toBe(0);
      expect(c.connections.open).toBe(0);
    });
  });
});

describe('with a broken gateway', () => {
  it('fails a malformed response with the parser\'s reason and does not reuse that connection', async () => {
    const gw = await startRaw((n) => n === 1
      ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok'
      : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    await withClient(gw.server, gw.port, async (c) => {
      const bad = await send(c);
      expect(bad.error).toBeInstanceOf(ResponseParseError);
      expect(bad.error!.message).toMatch(/both Content-Length and Transfer-Encoding/);
      const good = await send(c);
      expect(good.error).toBeUndefined();
      expect(good.body).toBe('ok');
      expect(gw.connections()).toBe(2);
    });
  });

  it('does not reuse a connection that carried bytes after the response', async () => {
    const gw = await startRaw(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad');
    await withClient(gw.server, gw.port, async (c) => {
      expect((await send(c)).body).toBe('ok');
      expect((await send(c)).body).toBe('ok');
      expect(gw.connections()).toBe(2);
    });
  });

  it('reports a gateway that closes mid-response as a reset, after the part that arrived', async () => {
    const gw = await startRaw(() => undefined);
    gw.server.removeAllListeners('secureConnection');
    gw.server.on('secureConnection', (socket: tls.TLSSocket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial'));
    });
    await withClient(gw.server, gw.port, async (c) => {
      const r = await send(c);
      expect(r.head?.status).toBe(200);
      expect(r.body).toBe('partial');
      expect(r.error?.code).toBe('ECONNRESET');
      expect(r.error?.message).toMatch(/in the middle of a response/);
    });
  });

  it('times out a gateway that accepts TCP but never completes TLS', async () => {
    const pit = net.createServer((s) => { s.on('error', () => undefined); });
    await new Promise<void>((r) => pit.listen(0, '127.0.0.1', r));
    await withClient(pit, (pit.address() as net.AddressInfo).port, async (c) => {
      const r = await send(c);
      expect(r.error).toBeInstanceOf(ForwardTimeoutError);
      expect(r.error!.message).toBe('connect timeout after 200 ms');
      expect(c.connections.open).toBe(0);
    }, { connectTimeoutMs: 200 });
  });

  it('ends the exchange when the gateway answers before the body is sent, and closes that connection', async () => {
    const gw = await startRaw(() => 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!');
    await withClient(gw.server, gw.port, async (c) => {
      // A body that never finishes: only the early answer can end this exchange.
      const endless = new Readable({ read() { /* nothing more */ } });
      endless.push('{"partial":');
      const r = await send(c, { headers: { host: 'gateway.test', 'content-length': '100000' }, body: endless });
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ head: { status: 413 }, body: 'big!' });
      // The close is asynchronous: wait for it to happen, rather than for a while and hope.
      await vi.waitFor(() => expect(c.connections.open).toBe(0));
    });
  });
});
