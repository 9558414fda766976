// Issue 15, attack 5, against a real `heimdall-gateway run` process: slow bodies are cut by the
// listener's deadlines with 408, and each client address is held to its connection and request-rate
// caps with 429. The deadlines are configured small; the tests assert the answer and the close, not
// how long either took.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../gateway/src/config.ts';
import { ENROLL_PATH } from '../../protocol/index.ts';
import { createTestPki } from '../intercept/harness.ts';
import { Peer } from './helpers.ts';
import { enrollChild, startGatewayChild, type GatewayChild } from './process.ts';

/** Everything a socket received until the gateway closed it. */
function untilClosed(socket: net.Socket): Promise<string> {
  let data = '';
  socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve(data)));
}

/** Sends headers announcing a body, then trickles the body a byte at a time (the attack) until the gateway hangs up. */
function trickle(socket: net.Socket, pathname: string): void {
  socket.write(`POST ${pathname} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
  const drip = setInterval(() => {
    if (socket.destroyed || !socket.writable) return clearInterval(drip);
    socket.write(' ');
  }, 100);
  socket.once('close', () => clearInterval(drip));
}

describe('attack 5: slow bodies hold the gateway', () => {
  let gw: GatewayChild;
  let pkiDir: string;
  let caPem: string;

  beforeAll(async () => {
    pkiDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-pki-'));
    const pki = createTestPki(pkiDir);
    caPem = pki.caPem;
    const { cert, key } = pki.issue('gateway', ['localhost']);
    fs.writeFileSync(path.join(pkiDir, 'gw.pem'), cert);
    fs.writeFileSync(path.join(pkiDir, 'gw-key.pem'), key, { mode: 0o600 });
    gw = await startGatewayChild({
      config: {
        tls: { cert_file: path.join(pkiDir, 'gw.pem'), key_file: path.join(pkiDir, 'gw-key.pem') },
        limits: { headers_timeout_s: 1, body_timeout_s: 1, request_timeout_s: 2 },
      },
    });
  });

  afterAll(async () => {
    await gw.stop();
    fs.rmSync(pkiDir, { recursive: true, force: true });
  });

  const connectTls = () => tls.connect({ host: '127.0.0.1', port: Number(new URL(gw.url).port), servername: 'localhost', ca: caPem });

  it('answers three TLS connections trickling a body to the enroll endpoint with 408 and closes them', async () => {
    const sockets = [connectTls(), connectTls(), connectTls()];
    const answers = sockets.map((s) => untilClosed(s));
    for (const s of sockets) s.once('secureConnect', () => trickle(s, ENROLL_PATH));
    for (const answer of await Promise.all(answers)) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain('"code":"request_timeout"');
      expect(answer.toLowerCase()).toContain('connection: close');
    }
  });

  it('answers headers trickled to an inference route with 408 at the headers deadline', async () => {
    const socket = connectTls();
    const answer = untilClosed(socket);
    socket.once('secureConnect', () => {
      socket.write('POST /openai/v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n');
      const drip = setInterval(() => (socket.writable ? socket.write('x-slow: 1\r\n') : clearInterval(drip)), 100);
      socket.once('close', () => clearInterval(drip));
    });
    expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('per-client caps', () => {
  it('refuses a connection over the per-client cap with 429', async () => {
    const gw = await startGatewayChild({ config: { limits: { max_connections_per_client: 3 } } });
    try {
      const port = Number(new URL(gw.url).port);
      // Three connections held open mid-request (the headers never finish within the test).
      const held = [0, 1, 2].map(() => net.connect(port, '127.0.0.1'));
      await Promise.all(held.map((s) => new Promise((resolve) => s.once('connect', resolve))));
      for (const s of held) s.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n');
      const fourth = net.connect(port, '127.0.0.1');
      const answer = untilClosed(fourth);
      fourth.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const text = await answer;
      expect(text).toMatch(/^HTTP\/1\.1 429 /);
      expect(text.toLowerCase()).toContain('retry-after: 1');
      expect(text).toContain('more than 3 open connections from this address');
      for (const s of held) s.destroy();
    } finally {
      await gw.stop();
    }
  });

  it('refuses enroll, admin and inference requests over their per-client rates with 429 and Retry-After', async () => {
    const gw = await startGatewayChild({
      config: { limits: { enroll_burst: 2, enroll_per_minute: 1, admin_burst: 2, admin_per_minute: 1, inference_burst: 2, inference_per_minute: 1 } },
    });
    try {
      const statuses = async (pathname: string, init: RequestInit) => {
        const out: { status: number; retryAfter: string | null; body: string }[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await fetch(`${gw.url}${pathname}`, init);
          out.push({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() });
        }
        return out;
      };
      const enroll = await statuses(ENROLL_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(enroll.map((r) => r.status)).toEqual([400, 400, 429]);
      expect(enroll[2]!.retryAfter).toBe('60');
      expect(enroll[2]!.body).toContain('more than 1 enroll requests a minute (burst 2) from this address');
      const admin = await statuses('/admin/v1/settings', { headers: { authorization: `Bearer ${gw.adminToken()}` } });
      expect(admin.map((r) => r.status)).toEqual([200, 200, 429]);
      const inference = await statuses('/openai/v1/models', {});
      expect(inference.map((r) => r.status)).toEqual([401, 401, 429]);
      // Each route class has its own allowance: the health check is not capped by rate.
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  it('leaves a device room for 1,024 concurrent inference requests by default', () => {
    expect(DEFAULT_LIMITS.clients.maxConnectionsPerClient).toBeGreaterThanOrEqual(1024 + 1);
    expect(DEFAULT_LIMITS.clients.rates.inference.burst).toBeGreaterThanOrEqual(1024);
  });
});

describe('deadlines and agents', () => {
  it('never cut an agent websocket, which outlives the request deadline of a request sent after it', async () => {
    const gw = await startGatewayChild({ config: { limits: { headers_timeout_s: 1, body_timeout_s: 30, request_timeout_s: 1 } } });
    try {
      const peer = new Peer(gw.wsUrl, await enrollChild(gw, 'dev-long-lived'));
      await peer.handshake('dev-long-lived');
      // A slow request opened after the websocket: its 408 means every deadline the websocket could have had has passed.
      const slow = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
      const answer = untilClosed(slow);
      slow.once('connect', () => trickle(slow, ENROLL_PATH));
      expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
      peer.send({ type: 'ping', id: 'still-there' });
      expect(await peer.next('pong', (m) => m.id === 'still-there')).toMatchObject({ type: 'pong' });
      expect(peer.ws.readyState).toBe(peer.ws.OPEN);
      peer.close();
    } finally {
      await gw.stop();
    }
  });
});
