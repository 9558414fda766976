import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { once } from 'node:events';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import {
  CertificateManager,
  createNameConstrainedCa,
  HostNotPermittedError,
  InvalidHostError,
  loadOrCreateLocalCa,
  signLeafFromCsr,
  type LeafSigner,
  type LocalCa,
} from '../../agent/src/tls/index.ts';
import { captureLogs, makeTempDirs, ROUTING_HOSTS, run } from './helpers.ts';

const temp = makeTempDirs('heimdall-tls-mgr-');
let ca: LocalCa;

beforeAll(async () => {
  ca = await loadOrCreateLocalCa({ stateDir: temp.make(), permittedDomains: ROUTING_HOSTS, logger: silentLogger() });
});
afterAll(() => temp.cleanup());

function newManager(options: { renewBeforeMs?: number; maxCachedHosts?: number } = {}): CertificateManager {
  return new CertificateManager({ signer: ca.signer, logger: silentLogger(), ...options });
}

/** A TLS server that picks its certificate the way the proxy will: from the manager, by name. */
async function startTlsServer(manager: CertificateManager): Promise<{ port: number; sniErrors: unknown[]; close(): Promise<void> }> {
  const sniErrors: unknown[] = [];
  const server = tls.createServer(
    {
      SNICallback: (name, cb) => {
        manager.secureContextFor(name).then(
          (ctx) => cb(null, ctx),
          (err: unknown) => {
            sniErrors.push(err);
            cb(err as Error);
          },
        );
      },
    },
    (socket) => socket.end('hello from heimdall\n'),
  );
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    sniErrors,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function handshake(port: number, servername: string): Promise<{ authorized: boolean; data: string; subjectAltName: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: ca.certPem }, () => {
      const peer = socket.getPeerCertificate();
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (data += d));
      socket.on('end', () => resolve({ authorized: socket.authorized, data, subjectAltName: peer.subjectaltname ?? '' }));
    });
    socket.on('error', reject);
  });
}

describe('CertificateManager with real TLS clients', () => {
  it('a Node TLS client trusting only the CA completes a handshake for each routing host', async () => {
    const manager = newManager();
    const server = await startTlsServer(manager);
    try {
      for (const host of ROUTING_HOSTS) {
        const result = await handshake(server.port, host);
        expect(result).toEqual({ authorized: true, data: 'hello from heimdall\n', subjectAltName: `DNS:${host}` });
      }
      expect(manager.stats().mints).toBe(ROUTING_HOSTS.length);
    } finally {
      await server.close();
    }
  });

  it('the handshake fails for a host the CA does not cover, and the manager refuses it with a typed error', async () => {
    const manager = newManager();
    const server = await startTlsServer(manager);
    try {
      await expect(handshake(server.port, 'www.bank.example')).rejects.toThrow();
      expect(server.sniErrors[0]).toBeInstanceOf(HostNotPermittedError);
      expect(manager.stats()).toMatchObject({ mints: 0, cachedHosts: 0 });
    } finally {
      await server.close();
    }
  });

  it('a client asking for another name rejects the certificate of an intercepted host', async () => {
    const manager = newManager();
    const context = await manager.secureContextFor('api.openai.com');
    const server = tls.createServer({ SNICallback: (_name, cb) => cb(null, context) }, (s) => s.end('x'));
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      await expect(handshake(port, 'www.bank.example')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
      await expect(handshake(port, 'api.openai.com')).resolves.toMatchObject({ authorized: true });
    } finally {
      server.close();
    }
  });

  it('curl trusting the CA completes an HTTPS request to api.openai.com served with the manager\'s context', async () => {
    const manager = newManager();
    await manager.prewarm(['api.openai.com']);
    const server = https.createServer(
      {
        SNICallback: (name, cb) => {
          manager.secureContextFor(name).then((ctx) => cb(null, ctx), (err: unknown) => cb(err as Error));
        },
      },
      (req, res) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ host: req.headers.host, path: req.url }));
      },
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      const ok = await run('curl', ['-sS', '--cacert', ca.certPath, '--resolve', `api.openai.com:${port}:127.0.0.1`, `https://api.openai.com:${port}/v1/models`]);
      expect(ok.stderr).toBe('');
      expect(JSON.parse(ok.stdout)).toEqual({ host: `api.openai.com:${port}`, path: '/v1/models' });
      // Without the CA, curl must not trust the certificate.
      const untrusted = await run('curl', ['-sS', '--resolve', `api.openai.com:${port}:127.0.0.1`, `https://api.openai.com:${port}/`]);
      expect(untrusted.code).toBe(60);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('CertificateManager caching', () => {
  it('concurrent calls for the same host mint once and share one context', async () => {
    const manager = newManager();
    const contexts = await Promise.all(Array.from({ length: 20 }, () => manager.secureContextFor('api.anthropic.com')));
    expect(new Set(contexts).size).toBe(1);
    expect(manager.stats()).toMatchObject({ mints: 1, cachedHosts: 1, inFlight: 0 });
  });

  it('normalises host names: case, trailing dot', async () => {
    const manager = newManager();
    const a = await manager.secureContextFor('API.Anthropic.COM');
    const b = await manager.secureContextFor('api.anthropic.com.');
    expect(a).toBe(b);
    expect(manager.cachedSecureContextFor('api.anthropic.com')).toBe(a);
    expect(manager.stats().mints).toBe(1);
  });

  it('refuses hosts outside the permitted set and malformed hosts with typed errors, minting nothing', async () => {
    const manager = newManager();
    await expect(manager.secureContextFor('www.bank.example')).rejects.toBeInstanceOf(HostNotPermittedError);
    await expect(manager.secureContextFor('api.openai.com.evil.example')).rejects.toBeInstanceOf(HostNotPermittedError);
    await expect(manager.secureContextFor('127.0.0.1')).rejects.toBeInstanceOf(HostNotPermittedError);
    await expect(manager.secureContextFor('api openai com')).rejects.toBeInstanceOf(InvalidHostError);
    await expect(manager.secureContextFor('*.openai.com')).rejects.toBeInstanceOf(InvalidHostError);
    expect(manager.cachedSecureContextFor('www.bank.example')).toBeUndefined();
    expect(manager.stats()).toMatchObject({ mints: 0, cachedHosts: 0 });
  });

  it('renews in the background while the old context keeps serving', async () => {
    const { logger, lines } = captureLogs();
    // Renewal is due as soon as a leaf exists (renew window longer than the leaf's life).
    const manager = new CertificateManager({ signer: ca.signer, logger, renewBeforeMs: 46 * 86_400_000 });
    const first = await manager.secureContextFor('claude.ai');
    const whileRenewing = await manager.secureContextFor('claude.ai');
    expect(whileRenewing).toBe(first);
    await vi.waitFor(() => expect(manager.stats().renewals).toBe(1));
    const renewed = manager.cachedSecureContextFor('claude.ai');
    expect(renewed).toBeDefined();
    expect(renewed).not.toBe(first);
    expect(manager.stats()).toMatchObject({ mints: 2, cachedHosts: 1 });
    expect(lines().some((l) => l.event === 'tls.leaf.renewed' && l.host === 'claude.ai')).toBe(true);
    // The renewed context serves real handshakes.
    const server = tls.createServer({ SNICallback: (_n, cb) => cb(null, renewed) }, (s) => s.end('renewed\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      await expect(handshake((server.address() as AddressInfo).port, 'claude.ai')).resolves.toMatchObject({ authorized: true, data: 'renewed\n' });
    } finally {
      server.close();
    }
  });

  it('prewarm mints the routing hosts and reports the ones it cannot mint', async () => {
    const manager = newManager();
    const result = await manager.prewarm([...ROUTING_HOSTS, 'www.bank.example']);
    expect(result.minted).toEqual(ROUTING_HOSTS);
    expect(result.failed).toEqual([{ host: 'www.bank.example', error: expect.stringMatching(/outside the CA's permitted name subtrees/) }]);
    expect(manager.stats()).toMatchObject({ mode: 'local', cachedHosts: ROUTING_HOSTS.length, mints: ROUTING_HOSTS.length, mintFailures: 0 });
    for (const host of ROUTING_HOSTS) expect(manager.cachedSecureContextFor(host)).toBeDefined();
  });

  it('keeps at most maxCachedHosts contexts, dropping the least recently used', async () => {
    const manager = newManager({ maxCachedHosts: 2 });
    await manager.secureContextFor('a.chatgpt.com');
    await manager.secureContextFor('b.chatgpt.com');
    await manager.secureContextFor('a.chatgpt.com'); // a is now the most recent
    await manager.secureContextFor('c.chatgpt.com');
    expect(manager.stats().cachedHosts).toBe(2);
    expect(manager.cachedSecureContextFor('a.chatgpt.com')).toBeDefined();
    expect(manager.cachedSecureContextFor('b.chatgpt.com')).toBeUndefined();
    expect(manager.cachedSecureContextFor('c.chatgpt.com')).toBeDefined();
  });
});

describe('the signer seam', () => {
  // What the gateway-held CA mode does on the far side of the sync channel: sign the agent's CSR
  // with signLeafFromCsr. Here it runs in-process; the manager cannot tell the difference.
  async function gatewayStyleSigner(misbehave?: { signAs: string }): Promise<LeafSigner & { caPem: string }> {
    const gatewayCa = await createNameConstrainedCa({ commonName: 'Acme gateway CA', permittedDomains: ROUTING_HOSTS });
    return {
      mode: 'gateway',
      caPem: gatewayCa.certPem,
      permits: (host) => ROUTING_HOSTS.some((d) => host === d || host.endsWith(`.${d}`)),
      permittedNames: () => ROUTING_HOSTS,
      signLeaf: (req) =>
        Promise.resolve(
          signLeafFromCsr({ caCertPem: gatewayCa.certPem, caKeyPem: gatewayCa.keyPem, csrPem: req.csrPem, hosts: misbehave ? [misbehave.signAs] : req.hosts }),
        ),
    };
  }

  it('a gateway-style signer\'s leaves serve handshakes for clients trusting the gateway CA', async () => {
    const signer = await gatewayStyleSigner();
    const manager = new CertificateManager({ signer, logger: silentLogger() });
    const context = await manager.secureContextFor('api.openai.com');
    const server = tls.createServer({ SNICallback: (_n, cb) => cb(null, context) }, (s) => s.end('via gateway CA\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      const answer = await new Promise<boolean>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port, servername: 'api.openai.com', ca: signer.caPem }, () => {
          resolve(socket.authorized);
          socket.destroy();
        });
        socket.on('error', reject);
      });
      expect(answer).toBe(true);
      expect(manager.stats().mode).toBe('gateway');
    } finally {
      server.close();
    }
  });

  it('refuses a signer\'s certificate that names another host', async () => {
    const manager = new CertificateManager({ signer: await gatewayStyleSigner({ signAs: 'chatgpt.com' }), logger: silentLogger() });
    await expect(manager.secureContextFor('api.openai.com')).rejects.toThrow(/returned a certificate that does not name api\.openai\.com/);
    expect(manager.stats()).toMatchObject({ mints: 0, mintFailures: 1, cachedHosts: 0 });
  });
});
