// Real parts for the proxy tests: a test PKI made with openssl, a TLS "test gateway" that records
// what reaches it, a TLS "origin" standing in for a provider's own host, and a running proxy with
// the real tls room behind it. Everything on loopback, in a temporary folder.
import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { execFile, execFileSync } from 'node:child_process';
import { WebSocketServer } from 'ws';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { CertificateManager, loadOrCreateLocalCa } from '../../agent/src/tls/index.ts';
import { createProxyServer, UNGOVERNED, type ProxyServer, type ProxyServerOptions, type ExchangeRecord } from '../../agent/src/intercept/index.ts';
import type { PolicyDecision } from '../../agent/src/policy/index.ts';
import { Forwarder, permittedDomains, type ForwarderOptions } from '../../agent/src/forward/index.ts';

/** Decisions a test's governor enforces; the proxy must carry them into its records unchanged. */
export const TEST_ALLOWED: PolicyDecision = UNGOVERNED;
export const TEST_DENIED: PolicyDecision = { verdict: 'block', status: 'denied', scope: 'global', reason: 'denied in this test', policyVersion: 1 };

export interface TestPki {
  dir: string;
  caPem: string;
  caPath: string;
  /** Issues a server certificate for the given DNS names (and 127.0.0.1). */
  issue(name: string, dnsNames: string[]): { cert: string; key: string };
}

/** A throwaway CA for the test gateway and test origins (not Heimdall's CA). */
export function createTestPki(dir: string): TestPki {
  const caKey = path.join(dir, 'test-ca-key.pem');
  const caPath = path.join(dir, 'test-ca.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', caKey, '-out', caPath,
    '-days', '2', '-subj', '/CN=Heimdall test upstream CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'pipe' });
  return {
    dir,
    caPath,
    caPem: fs.readFileSync(caPath, 'utf8'),
    issue(name, dnsNames) {
      const key = path.join(dir, `${name}-key.pem`);
      const csr = path.join(dir, `${name}.csr`);
      const cert = path.join(dir, `${name}.pem`);
      const ext = path.join(dir, `${name}.ext`);
      fs.writeFileSync(ext, `subjectAltName=${[...dnsNames.map((d) => `DNS:${d}`), 'IP:127.0.0.1'].join(',')}\nextendedKeyUsage=serverAuth\n`);
      execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${dnsNames[0]}`], { stdio: 'pipe' });
      execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', caPath, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', ext], { stdio: 'pipe' });
      return { cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') };
    },
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type UpstreamHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

export interface TestUpstream {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Replace to change how the upstream answers. */
  handler: UpstreamHandler;
  /** Sockets currently open to the upstream (to prove tar pits and closes). */
  server: https.Server;
  close(): Promise<void>;
}

/** JSON echo of what arrived: the default answer of the test gateway and origin. */
export const echoHandler: UpstreamHandler = (req, res, body) => {
  const payload = JSON.stringify({ method: req.method, url: req.url, body });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
};

/** An https server recording each request; websocket upgrades are echoed. */
export async function startTestUpstream(pki: TestPki, name: string, dnsNames: string[]): Promise<TestUpstream> {
  const { cert, key } = pki.issue(name, dnsNames);
  const requests: RecordedRequest[] = [];
  const upstream: TestUpstream = {
    url: '', port: 0, requests, handler: echoHandler, server: undefined as unknown as https.Server,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      upstream.server.closeAllConnections();
      await new Promise((r) => upstream.server.close(r));
    },
  };
  // eslint-disable-next-line prefer-const -- assigned once the server exists, used by close() above
  let wss: WebSocketServer;
  const server = https.createServer({ cert, key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      upstream.handler(req, res, body);
    });
  });
  wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    requests.push({ method: 'WS', url: req.url ?? '', headers: req.headers, body: '' });
    ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `echo:${(data as Buffer).toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  upstream.server = server;
  upstream.port = port;
  upstream.url = `https://127.0.0.1:${port}`;
  return upstream;
}

export interface RunningProxy {
  proxy: ProxyServer;
  port: number;
  proxyUrl: string;
  /** Heimdall's CA certificate (what apps are told to trust). */
  caPath: string;
  caPem: string;
  records: ExchangeRecord[];
  stateDir: string;
  close(): Promise<void>;
}

/** The proxy's own options, and the forwarder's the harness wires in as the daemon does. */
export type ProxyOverrides = Partial<Omit<ProxyServerOptions, 'certificates' | 'logger' | 'forwarder'>>
  & Partial<Pick<ForwarderOptions, 'gatewayCa' | 'resolveOrigin' | 'dns'>> & { forwardTimeouts?: ForwarderOptions['timeouts'] };

/** Heimdall's CA and certificate manager, built once per suite (RSA key generation is slow). */
export async function createHeimdallCa(stateDir: string): Promise<{ certificates: CertificateManager; caPath: string; caPem: string }> {
  const logger = silentLogger();
  const ca = await loadOrCreateLocalCa({ stateDir, permittedDomains: permittedDomains(), organization: 'Heimdall tests', logger });
  const certificates = new CertificateManager({ signer: ca.signer, logger });
  return { certificates, caPath: ca.certPath, caPem: ca.certPem };
}

export async function startProxy(
  heimdallCa: { certificates: CertificateManager; caPath: string; caPem: string },
  overrides: ProxyOverrides & { gatewayUrl: string },
): Promise<RunningProxy> {
  const records: ExchangeRecord[] = [];
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-proxy-'));
  const { gatewayUrl, gatewayCa, resolveOrigin, dns, forwardTimeouts, ...proxyOverrides } = overrides;
  const supportUrl = proxyOverrides.supportUrl ?? 'https://help.example.com/ai';
  const forwarder = new Forwarder({
    gatewayUrl, deviceId: 'dev-test-1', supportUrl, logger: silentLogger(),
    ...(gatewayCa !== undefined ? { gatewayCa } : {}),
    ...(resolveOrigin !== undefined ? { resolveOrigin } : {}),
    ...(dns !== undefined ? { dns } : {}),
    ...(forwardTimeouts !== undefined ? { timeouts: forwardTimeouts } : {}),
  });
  const proxy = createProxyServer({
    forwarder,
    port: 0,
    supportUrl,
    organization: 'Example Corp',
    getCredential: () => ({ kind: 'virtual_key', key: 'sk-bf-test-virtual-key' }),
    onExchangeComplete: (r) => records.push(r),
    ...proxyOverrides,
    certificates: heimdallCa.certificates,
    logger: silentLogger(),
  });
  const address = await proxy.listen();
  return {
    proxy, port: address.port, proxyUrl: address.proxyUrl, caPath: heimdallCa.caPath, caPem: heimdallCa.caPem, records, stateDir,
    close: async () => {
      await proxy.close();
      forwarder.close();
      fs.rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export interface CurlResult {
  status: number;
  body: string;
  stderr: string;
  code: number;
}

/** Runs the real curl through the proxy. Returns the HTTP status and body. */
export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(timeoutMs / 1000), '-o', '-', '-w', '\n%{http_code}', ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeout: timeoutMs + 5000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const idx = stdout.lastIndexOf('\n');
        resolve({ status: Number(stdout.slice(idx + 1)) || 0, body: stdout.slice(0, idx), stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
      });
  });
}

/** Opens a CONNECT tunnel by hand and returns the raw socket after the proxy's answer. */
export function connectThrough(port: number, authority: string): Promise<{ socket: net.Socket; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`));
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        socket.off('data', onData);
        const rest = buf.slice(end + 4);
        if (rest) socket.unshift(Buffer.from(rest, 'latin1'));
        resolve({ socket, head: buf.slice(0, end) });
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** CONNECT, then TLS with SNI, trusting `ca`. */
export async function tlsThrough(port: number, host: string, ca: string, servername = host): Promise<tls.TLSSocket> {
  const { socket, head } = await connectThrough(port, `${host}:443`);
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT refused: ${head}`);
  return new Promise((resolve, reject) => {
    const t = tls.connect({ socket, servername, ca, ALPNProtocols: ['http/1.1'] }, () => resolve(t));
    t.once('error', reject);
  });
}

/** Sends raw bytes and collects everything until the peer closes (or the timeout). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(data));
    let buf = '';
    socket.on('data', (d: Buffer) => { buf += d.toString('latin1'); });
    const timer = setTimeout(() => { socket.destroy(); resolve(`${buf}<timeout>`); }, timeoutMs);
    socket.on('close', () => { clearTimeout(timer); resolve(buf); });
    socket.on('error', () => undefined);
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
