// The proxy must not relay to this machine's own services. A "victim" HTTP service listens on loopback
// (as a local gateway, a database console or a metadata endpoint would); a local user or a page asks the
// root daemon's proxy to reach it under every spelling of 127.0.0.1, through a name that resolves there,
// and through the proxy itself. Each must be refused before any byte reaches the victim, unless an
// administrator's allow-list names the target.
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TargetGuard } from '../../agent/src/intercept/index.ts';
import { canonicalHost, forbiddenKind } from '../../agent/src/intercept/target-guard.ts';
import {
  connectThrough, createHeimdallCa, rawExchange, startProxy, tempDir,
  type RunningProxy,
} from './harness.ts';

let heimdallCa: Awaited<ReturnType<typeof createHeimdallCa>>;
let victim: http.Server;
let victimPort: number;
let hits = 0;
const proxies: RunningProxy[] = [];

beforeAll(async () => {
  heimdallCa = await createHeimdallCa(tempDir('heimdall-local-targets-'));
  victim = http.createServer((_req, res) => {
    hits++;
    res.end('SECRET-FROM-A-LOCAL-SERVICE');
  });
  await new Promise<void>((r) => victim.listen(0, '127.0.0.1', r));
  victimPort = (victim.address() as net.AddressInfo).port;
});

afterAll(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await new Promise((r) => victim.close(r));
});

beforeEach(() => {
  hits = 0;
});

async function proxyWith(guard?: TargetGuard): Promise<RunningProxy> {
  const p = await startProxy(heimdallCa, { gatewayUrl: 'http://127.0.0.1:9', ...(guard ? { targetGuard: guard } : {}) });
  proxies.push(p);
  return p;
}

/** CONNECTs, and when the tunnel opens, asks for `/` inside it; returns the proxy's answer and what came back. */
async function tunnelTo(port: number, authority: string): Promise<{ head: string; inside: string }> {
  const { socket, head } = await connectThrough(port, authority);
  if (!head.startsWith('HTTP/1.1 200')) {
    socket.destroy();
    return { head, inside: '' };
  }
  const inside = await new Promise<string>((resolve) => {
    let buf = '';
    socket.on('data', (d: Buffer) => (buf += d.toString()));
    socket.on('close', () => resolve(buf));
    socket.on('error', () => resolve(buf));
    socket.write('GET / HTTP/1.1\r\nHost: victim\r\nConnection: close\r\n\r\n');
  });
  return { head, inside };
}

const LOOPBACK_SPELLINGS = ['127.0.0.1', '127.1', '2130706433', '0x7f000001', '0177.0.0.1', '[::ffff:7f00:1]', '[::ffff:127.0.0.1]', 'localhost'];

describe('CONNECT to this machine', () => {
  it.each(LOOPBACK_SPELLINGS)('refuses a tunnel to a loopback service spelled %s', async (spelling) => {
    const p = await proxyWith();
    const r = await tunnelTo(p.port, `${spelling}:${victimPort}`);
    expect(r.head).toMatch(/^HTTP\/1\.1 403/);
    expect(r.inside).toBe('');
    expect(hits).toBe(0);
  });

  it.each(['127.1', '2130706433', '0x7f000001', '[::ffff:7f00:1]'])('never tunnels to the proxy itself spelled %s', async (spelling) => {
    const p = await proxyWith();
    const r = await tunnelTo(p.port, `${spelling}:${p.port}`);
    expect(r.head).toMatch(/^HTTP\/1\.1 (403|508)/);
  });

  it('refuses link-local (a cloud metadata service) and the unspecified address', async () => {
    const p = await proxyWith();
    for (const target of ['169.254.169.254:80', '[fe80::1]:80', '0.0.0.0:22', '[::]:22']) {
      const r = await tunnelTo(p.port, target);
      expect({ target, head: r.head.split('\r\n')[0] }).toEqual({ target, head: 'HTTP/1.1 403 Forbidden' });
    }
  });

  it('refuses a name that resolves to loopback, and says so', async () => {
    const p = await proxyWith(new TargetGuard({ resolve: () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]) }));
    const { socket, head } = await connectThrough(p.port, `rebind.attacker.example:${victimPort}`);
    socket.destroy();
    expect(head).toMatch(/^HTTP\/1\.1 403/);
    const body = await rawExchange(p.port, `CONNECT rebind.attacker.example:${victimPort} HTTP/1.1\r\n\r\n`);
    expect(body).toContain('rebind.attacker.example resolves to 127.0.0.1');
    expect(hits).toBe(0);
  });

  it('refuses the machine\'s own interface addresses', async () => {
    const p = await proxyWith(new TargetGuard({ ownAddresses: () => ['192.0.2.10'] }));
    const r = await tunnelTo(p.port, '192.0.2.10:22');
    expect(r.head).toMatch(/^HTTP\/1\.1 403/);
  });

  it('tunnels to a local target an administrator allowed, and only that one', async () => {
    const p = await proxyWith(new TargetGuard({ allowed: [`127.0.0.1:${victimPort}`] }));
    const allowed = await tunnelTo(p.port, `127.1:${victimPort}`);
    expect(allowed.head).toMatch(/^HTTP\/1\.1 200/);
    expect(allowed.inside).toContain('SECRET-FROM-A-LOCAL-SERVICE');
    expect((await tunnelTo(p.port, `127.0.0.1:${victimPort + 1}`)).head).toMatch(/^HTTP\/1\.1 403/);
  });
});

describe('plain http:// proxying to this machine', () => {
  it.each(['127.1', '2130706433', 'localhost'])('refuses http://%s', async (spelling) => {
    const p = await proxyWith();
    const answer = await rawExchange(p.port, `GET http://${spelling}:${victimPort}/ HTTP/1.1\r\nHost: ${spelling}:${victimPort}\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 403/);
    expect(answer).not.toContain('SECRET');
    expect(hits).toBe(0);
  });
});

describe('target addresses', () => {
  it.each([
    ['127.1', '127.0.0.1'], ['2130706433', '127.0.0.1'], ['0x7f000001', '127.0.0.1'], ['0177.0.0.1', '127.0.0.1'],
    ['[::ffff:7f00:1]', '::ffff:7f00:1'], ['::FFFF:127.0.0.1', '::ffff:7f00:1'], ['API.OpenAI.com.', 'api.openai.com'],
  ])('canonicalises %s as %s', (host, canonical) => {
    expect(canonicalHost(host)).toBe(canonical);
  });

  it.each([
    ['127.0.0.1', 'loopback'], ['::1', 'loopback'], ['::ffff:7f00:1', 'loopback'], ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'], ['0.0.0.0', 'unspecified'], ['::', 'unspecified'], ['10.1.2.3', undefined], ['93.184.216.34', undefined],
  ])('classifies %s as %s', (address, kind) => {
    expect(forbiddenKind(address, [])).toBe(kind);
  });

  it('refuses a malformed allow-list entry by name', () => {
    expect(() => new TargetGuard({ allowed: ['localhost:5432'] })).toThrow('local_targets_allowed entry "localhost:5432"');
  });
});
