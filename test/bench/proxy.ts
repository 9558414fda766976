// Benchmark: what Heimdall's proxy adds on the path from an app to a local upstream, measured in
// the same run against calling the upstream directly and against mitmproxy (mitmdump) as a peer.
// Loopback only, bounded counts and time. Run alone with `node test/bench/proxy.ts`; the bench
// runner calls benchProxy() and prints the results.
//
// The upstream runs in its own process (test/bench/upstream-child.ts), as a real one always does.
// Paths compared (each over keep-alive HTTP/1.1 inside TLS, small JSON request and reply):
//   direct:   client --TLS--> upstream
//   relay:    client --CONNECT, TLS (Heimdall CA)--> a byte relay --TLS--> upstream (calibration:
//             the least any TLS-terminating proxy in Node costs here; ./relay-child.ts)
//   heimdall: client --CONNECT api.openai.com:443, TLS (Heimdall CA)--> proxy --TLS, keep-alive--> upstream
//   mitmdump: client --CONNECT 127.0.0.1:port, TLS (mitmproxy CA)--> mitmdump --TLS--> upstream
import fs from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ProxyBenchOptions {
  latencySamples?: number;
  /**
   * Requests on the latency connection before any is timed. V8 optimizes a function after it has run
   * many times; a daemon serves requests for days, so the steady state is what is measured.
   */
  warmupRequests?: number;
  throughputSeconds?: number;
  concurrency?: number;
  openStreams?: number;
  sseSamples?: number;
  /** Paced streams of ten chunks each through every proxy, each paired with one on the direct path (chunk hold). */
  pacedStreams?: number;
  /** Include mitmdump when it is installed (Debian package `mitmproxy`). */
  mitmproxy?: boolean;
}

export interface PathNumbers {
  p50Ms: number;
  p99Ms: number;
  sseTtfbP50Ms: number;
  reqPerSec: number;
  /** CPU time the proxy process spent per request in the throughput phase (µs; user + system). */
  cpuPerRequestUs?: number;
  /** Garbage-collection pause time per request in the same phase (µs; Heimdall's proxy only). */
  gcPerRequestUs?: number;
}

/**
 * How long the chunks of paced streams were on the way, from the upstream's write to the client's
 * read. Every stream through a proxy is paired with one on the direct path that the upstream feeds
 * the same chunks in the same turn, so `added` is, chunk by chunk, how much later the proxied copy
 * arrived than its direct twin: what the proxy held it back, with the stalls both copies share
 * (the upstream, the client, the machine) cancelled out.
 */
export interface ChunkHold extends HoldOnTheWay {
  added: { p50Ms: number; p99Ms: number; maxMs: number };
}

/** From the upstream's write to the client's read, on one path alone. */
export interface HoldOnTheWay {
  p50Ms: number;
  maxMs: number;
  chunks: number;
}

export interface ProxyBenchResult {
  /** One 1-byte TCP round trip to another process on loopback: what any extra hop costs here. */
  processRoundTrip: { p50Ms: number; p99Ms: number };
  /** The direct path's chunk hold is that of the direct twins of Heimdall's paced streams. */
  direct: PathNumbers & { chunkHold: HoldOnTheWay };
  /** Calibration: a TLS byte relay with no HTTP in it (test/bench/relay-child.ts), Node's floor for any proxy here. */
  relay: PathNumbers & { chunkHold: ChunkHold };
  heimdall: PathNumbers & { chunkHold: ChunkHold; rssIdleMb: number; rssOpenStreamsMb: number; openStreams: number };
  mitmdump?: PathNumbers & { chunkHold: ChunkHold; rssIdleMb: number };
  /** Heimdall's numbers minus the direct path's, statistic by statistic (chunk hold: ChunkHold.added). */
  added: { p50Ms: number; p99Ms: number; sseTtfbMs: number };
  ratios: { throughputVsDirect: number; throughputVsMitmdump?: number; addedP50VsMitmdump?: number };
}

export const REPLY = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'x'.repeat(200) } }] });
const REQUEST_BODY = JSON.stringify({ model: 'gpt-bench', messages: [{ role: 'user', content: 'y'.repeat(80) }] });

// ---- the local upstream -------------------------------------------------------------------------

export interface UpstreamStats { connections: number; open: number; cpuMicros: number; rss: number; pid: number }

export interface Upstream {
  port: number;
  caPath: string;
  caPem: string;
  /** A TCP echo in the upstream's process (startUpstreamProcess only). */
  echoPort?: number;
  /** TLS connections the upstream accepted so far (the gateway connections a proxy opened) and those still open, its CPU (µs) and RSS (bytes). */
  stats(): Promise<UpstreamStats>;
  close(): void;
}

/** A CA and a leaf for `dnsName` (ECDSA P-256, or RSA-2048 as the daemon's own leaves are) made by openssl in `dir`. */
export function makePki(dir: string, leaf: 'ec-p256' | 'rsa-2048' = 'ec-p256', dnsName = 'localhost'): { caPath: string; caPem: string; cert: string; key: string } {
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: 'pipe' }); };
  const p = (f: string): string => path.join(dir, f);
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', p('ca-key.pem'), '-out', p('ca.pem'), '-days', '2',
    '-subj', '/CN=bench upstream CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign']);
  fs.writeFileSync(p('ext'), `subjectAltName=DNS:${dnsName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  const newKey = leaf === 'rsa-2048' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  run(['req', ...newKey, '-nodes', '-keyout', p('key.pem'), '-out', p('csr.pem'), '-subj', `/CN=${dnsName}`]);
  run(['x509', '-req', '-in', p('csr.pem'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial', '-out', p('cert.pem'), '-days', '1', '-extfile', p('ext')]);
  return { caPath: p('ca.pem'), caPem: fs.readFileSync(p('ca.pem'), 'utf8'), cert: fs.readFileSync(p('cert.pem'), 'utf8'), key: fs.readFileSync(p('key.pem'), 'utf8') };
}

export async function startUpstream(dir: string): Promise<Upstream> {
  const pki = makePki(dir);
  const pairedStreams = new Map<string, http.ServerResponse[]>();
  let connections = 0;
  let open = 0;
  const server = https.createServer({ cert: pki.cert, key: pki.key, keepAliveTimeout: 120_000 }, (req, res) => {
    req.resume();
    req.on('end', () => {
      const url = req.url ?? '';
      if (url.includes('/sse-hold')) {
        // One event, then the stream stays open (the open-streams measurement).
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: open\n\n');
        return;
      }
      const paired = /\/sse-paired\/([\w-]+)\?parties=(\d)$/.exec(url);
      if (paired) {
        // The streams naming the same pair start together once all have arrived: ten chunks 20 ms
        // apart, each written to every stream in the same turn (the order alternating from chunk to
        // chunk) with one stamp of the write time (wall clock at sub-millisecond resolution,
        // comparable across processes), then the end.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const id = paired[1]!;
        const streams = [...(pairedStreams.get(id) ?? []), res];
        if (streams.length < Number(paired[2])) { pairedStreams.set(id, streams); return; }
        pairedStreams.delete(id);
        let n = 0;
        const timer = setInterval(() => {
          const stamp = wallClockMs();
          const last = ++n === 10;
          // end() flushes at once and write() on the next tick: the last chunk goes out with end().
          for (const stream of n % 2 === 0 ? streams : [...streams].reverse()) {
            if (last) stream.end(`data: ${stamp}\n\n`);
            else stream.write(`data: ${stamp}\n\n`);
          }
          if (last) clearInterval(timer);
        }, 20);
        return;
      }
      if (url.includes('/sse-burst')) {
        // A hundred chunks, each in a turn of its own, then the end: the streaming path's warm-up.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let n = 0;
        const next = (): void => {
          if (++n === 100) { res.end('data: [DONE]\n\n'); return; }
          res.write(`data: ${n}\n\n`);
          setImmediate(next);
        };
        next();
        return;
      }
      if (url.includes('/sse')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        setTimeout(() => res.end('data: [DONE]\n\n'), 5);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(REPLY) });
      res.end(REPLY);
    });
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    connections++;
    open++;
    socket.once('close', () => { open--; });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port, caPath: pki.caPath, caPem: pki.caPem,
    stats: () => {
      const cpu = process.cpuUsage();
      return Promise.resolve({ connections, open, cpuMicros: cpu.user + cpu.system, rss: process.memoryUsage().rss, pid: process.pid });
    },
    close: () => { server.closeAllConnections(); server.close(); },
  };
}

/** Milliseconds since the epoch with sub-millisecond resolution, the same clock in every process. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** startUpstream() in a child process of its own; close() ends it. */
export async function startUpstreamProcess(dir: string): Promise<Upstream> {
  const child = fork(fileURLToPath(new URL('./upstream-child.ts', import.meta.url)), [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'] });
  const ready = await new Promise<{ port: number; caPath: string; caPem: string; echoPort: number }>((resolve, reject) => {
    child.once('message', (m: { port: number; caPath: string; caPem: string; echoPort: number }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`upstream child exited with ${code}`)));
  });
  return {
    ...ready,
    stats: () => new Promise((resolve) => {
      child.once('message', (m: UpstreamStats) => resolve(m));
      child.send({ type: 'stats' });
    }),
    close: () => child.disconnect(),
  };
}

// ---- a minimal keep-alive HTTP/1.1 client (no library overhead in the numbers) ---------------

/** Opens a TLS connection: direct to `port`, or through a proxy's CONNECT to `authority`. */
export async function openTls(opts: { port: number; ca: string; servername: string; proxyPort?: number; authority?: string }): Promise<tls.TLSSocket> {
  let socket: net.Socket | undefined;
  if (opts.proxyPort !== undefined) {
    socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(opts.proxyPort!, '127.0.0.1', () => s.write(`CONNECT ${opts.authority} HTTP/1.1\r\nHost: ${opts.authority}\r\n\r\n`));
      s.setNoDelay(true);
      let buf = '';
      const onData = (d: Buffer): void => {
        buf += d.toString('latin1');
        if (buf.includes('\r\n\r\n')) {
          s.off('data', onData);
          if (!buf.startsWith('HTTP/1.1 200') && !buf.startsWith('HTTP/1.0 200')) reject(new Error(`CONNECT failed: ${buf.split('\r\n')[0]}`));
          else resolve(s);
        }
      };
      s.on('data', onData);
      s.once('error', reject);
    });
  }
  return new Promise((resolve, reject) => {
    const t = tls.connect({ ...(socket ? { socket } : { port: opts.port, host: '127.0.0.1' }), servername: opts.servername, ca: opts.ca, ALPNProtocols: ['http/1.1'] }, () => resolve(t));
    t.setNoDelay?.(true);
    t.once('error', reject);
  });
}

export class Conn {
  readonly #socket: tls.TLSSocket;
  readonly #host: string;
  #buf: Buffer = Buffer.alloc(0);
  #waiter: (() => void) | undefined;

  constructor(socket: tls.TLSSocket, host: string) {
    this.#socket = socket;
    this.#host = host;
    socket.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      this.#waiter?.();
    });
  }

  /** One request with a content-length reply; resolves when the whole body arrived. */
  async request(pathName: string): Promise<void> {
    this.#socket.write(`POST ${pathName} HTTP/1.1\r\nHost: ${this.#host}\r\ncontent-type: application/json\r\nauthorization: Bearer sk-app\r\ncontent-length: ${Buffer.byteLength(REQUEST_BODY)}\r\n\r\n${REQUEST_BODY}`);
    for (;;) {
      const end = this.#buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.#buf.subarray(0, end).toString('latin1');
        const m = /content-length:\s*(\d+)/i.exec(head);
        if (!m) throw new Error(`reply without content-length: ${head.split('\r\n')[0]}`);
        const total = end + 4 + Number(m[1]);
        if (this.#buf.length >= total) {
          if (!head.startsWith('HTTP/1.1 200')) throw new Error(`unexpected reply: ${head.split('\r\n')[0]}`);
          this.#buf = this.#buf.subarray(total);
          return;
        }
      }
      await new Promise<void>((r) => { this.#waiter = r; });
    }
  }

  /**
   * Sends a streaming request and resolves with the time the first event's bytes arrived
   * (performance.now()). The request asks for the connection to be closed after the answer unless
   * `keepAlive` is set.
   */
  async firstEvent(pathName: string, onData?: (chunk: string, at: number) => void, keepAlive = false): Promise<number> {
    this.#socket.write(`POST ${pathName} HTTP/1.1\r\nHost: ${this.#host}\r\ncontent-length: 2\r\n${keepAlive ? '' : 'connection: close\r\n'}\r\n{}`);
    return new Promise((resolve) => {
      let resolved = false;
      this.#waiter = () => {
        const text = this.#buf.toString('latin1');
        if (onData) { onData(text, wallClockMs()); this.#buf = Buffer.alloc(0); }
        if (!resolved && text.includes('data: ')) { resolved = true; resolve(performance.now()); }
      };
    });
  }

  close(): void {
    this.#socket.destroy();
  }
}

interface PathSpec {
  name: string;
  open(): Promise<Conn>;
  /** CPU time used so far by the process in the middle (µs), and its GC pauses when it can tell. */
  cpu?(): Promise<{ micros: number; gcMicros?: number }>;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function measurePath(spec: PathSpec, o: Required<ProxyBenchOptions>): Promise<PathNumbers> {
  // Latency: sequential requests on one warm keep-alive connection.
  const conn = await spec.open();
  for (let i = 0; i < o.warmupRequests; i++) await conn.request('/v1/chat/completions');
  const lat: number[] = [];
  for (let i = 0; i < o.latencySamples; i++) {
    const t0 = performance.now();
    await conn.request('/v1/chat/completions');
    lat.push(performance.now() - t0);
  }
  conn.close();

  // SSE time to first byte of the first event, on fresh connections (handshakes not timed).
  const ttfb: number[] = [];
  for (let i = 0; i < o.sseSamples; i++) {
    const c = await spec.open();
    const t0 = performance.now();
    ttfb.push((await c.firstEvent('/v1/chat/completions/sse')) - t0);
    c.close();
  }


  // Throughput: `concurrency` keep-alive connections in closed loops for a fixed time.
  const conns = await Promise.all(Array.from({ length: o.concurrency }, () => spec.open()));
  for (const c of conns) await c.request('/v1/chat/completions');
  let done = 0;
  const cpuBefore = await spec.cpu?.();
  const until = performance.now() + o.throughputSeconds * 1000;
  const t0 = performance.now();
  await Promise.all(conns.map(async (c) => {
    while (performance.now() < until) {
      await c.request('/v1/chat/completions');
      done++;
    }
  }));
  const reqPerSec = done / ((performance.now() - t0) / 1000);
  const cpuAfter = await spec.cpu?.();
  for (const c of conns) c.close();

  return {
    p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99), sseTtfbP50Ms: percentile(ttfb, 50), reqPerSec,
    ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuPerRequestUs: (cpuAfter.micros - cpuBefore.micros) / done } : {}),
    ...(cpuBefore?.gcMicros !== undefined && cpuAfter?.gcMicros !== undefined ? { gcPerRequestUs: (cpuAfter.gcMicros - cpuBefore.gcMicros) / done } : {}),
  };
}

/** Paced streams through `proxied`, each with a direct twin fed the same chunks (see ChunkHold). */
async function measureChunkHold(proxied: PathSpec, direct: PathSpec, streams: number): Promise<{ proxied: ChunkHold; direct: HoldOnTheWay }> {
  const viaProxy: number[] = [];
  const viaDirect: number[] = [];
  const added: number[] = [];
  await warmUpStreaming(proxied);
  await warmUpStreaming(direct);
  for (let s = 0; s < streams; s++) {
    const [viaConn, directConn] = await Promise.all([proxied.open(), direct.open()]);
    const pathName = `/v1/chat/completions/sse-paired/${proxied.name}-${s}?parties=2`;
    const [proxiedArrivals, directArrivals] = await Promise.all([chunkArrivals(viaConn, pathName), chunkArrivals(directConn, pathName)]);
    viaConn.close();
    directConn.close();
    for (const [stamp, at] of proxiedArrivals) {
      const twin = directArrivals.get(stamp);
      if (twin === undefined) throw new Error(`chunk ${stamp} reached ${proxied.name} but not the direct path`);
      viaProxy.push(at - stamp);
      viaDirect.push(twin - stamp);
      added.push(at - twin);
    }
  }
  const hold = (v: number[]): HoldOnTheWay => ({ p50Ms: percentile(v, 50), maxMs: Math.max(...v), chunks: v.length });
  return {
    proxied: { ...hold(viaProxy), added: { p50Ms: percentile(added, 50), p99Ms: percentile(added, 99), maxMs: Math.max(...added) } },
    direct: hold(viaDirect),
  };
}

/**
 * A hundred streams of a hundred chunks through `spec` on one connection, unmeasured. The request
 * warm-up runs the JSON path only; without this, V8 compiles the streaming code (chunked framing,
 * per-chunk writes) while the paced streams are timed, and on two cores a compile job of 1-7 ms
 * on a V8 worker thread is enough to hold a chunk (seen with perf; fewer with more warm-up, never none).
 */
async function warmUpStreaming(spec: PathSpec): Promise<void> {
  const c = await spec.open();
  for (let i = 0; i < 100; i++) {
    await new Promise<void>((resolve) => {
      void c.firstEvent('/v1/chat/completions/sse-burst', (text) => { if (text.includes('data: [DONE]')) resolve(); }, true);
    });
  }
  c.close();
}

/** Sends a paced-stream request and resolves with when each of its ten chunks arrived (by upstream stamp; wall clock). */
function chunkArrivals(c: Conn, pathName: string): Promise<Map<number, number>> {
  return new Promise((resolve) => {
    const arrivals = new Map<number, number>();
    // Kept alive: with `connection: close` the client would be tearing down one twin's connection
    // while the other's last chunk arrives, and time that as the proxy's.
    void c.firstEvent(pathName, (text, at) => {
      for (const m of text.matchAll(/data: ([\d.]+)/g)) arrivals.set(Number(m[1]), at);
      if (arrivals.size >= 10) resolve(arrivals);
    }, true);
  });
}

/** Round trips of one byte to the upstream process's echo port, sequential on one connection. */
async function measureProcessRoundTrip(port: number, samples: number): Promise<{ p50Ms: number; p99Ms: number }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const lat: number[] = [];
  for (let i = 0; i < samples + 200; i++) {
    const t0 = performance.now();
    socket.write('x');
    await new Promise((resolve) => socket.once('data', resolve));
    if (i >= 200) lat.push(performance.now() - t0);
  }
  socket.destroy();
  return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

// ---- the proxies ---------------------------------------------------------------------------

async function startHeimdall(stateDir: string, upstream: Upstream): Promise<{ child: ChildProcess; port: number; caPem: string; rss(): Promise<{ rss: number; active: number }>; cpu(): Promise<{ micros: number; gcMicros: number }>; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./proxy-child.ts', import.meta.url)), [stateDir, `https://127.0.0.1:${upstream.port}`, upstream.caPath], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc', '--no-warnings', ...(process.env.HEIMDALL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HEIMDALL_BENCH_CPU_PROF}`] : [])],
  });
  const ready = await new Promise<{ port: number; caPem: string }>((resolve, reject) => {
    child.once('message', (m: { type: string; port: number; caPem: string }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`proxy child exited with ${code}`)));
  });
  return {
    child, port: ready.port, caPem: ready.caPem,
    rss: () => new Promise((resolve) => {
      child.once('message', (m: { rss: number; active: number }) => resolve(m));
      child.send({ type: 'rss' });
    }),
    cpu: () => new Promise((resolve) => {
      child.once('message', (m: { micros: number; gcMicros: number }) => resolve(m));
      child.send({ type: 'cpu' });
    }),
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.send({ type: 'stop' }); }),
  };
}

async function startRelay(stateDir: string, upstream: Upstream): Promise<{ child: ChildProcess; port: number; caPem: string; cpu(): Promise<{ micros: number }>; stop(): Promise<void> }> {
  const child = fork(fileURLToPath(new URL('./relay-child.ts', import.meta.url)), [stateDir, `https://127.0.0.1:${upstream.port}`, upstream.caPath], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'],
  });
  const ready = await new Promise<{ port: number; caPem: string }>((resolve, reject) => {
    child.once('message', (m: { port: number; caPem: string }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`relay child exited with ${code}`)));
  });
  return {
    child, port: ready.port, caPem: ready.caPem,
    cpu: () => new Promise((resolve) => {
      child.once('message', (m: { micros: number }) => resolve(m));
      child.send({ type: 'cpu' });
    }),
    stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.send({ type: 'stop' }); }),
  };
}

export function mitmdumpAvailable(): boolean {
  try {
    execFileSync('mitmdump', ['--version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

export async function startMitmdump(confdir: string): Promise<{ port: number; caPem: string; pid: number; stop(): void }> {
  const port = await new Promise<number>((r) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => r(p)); }); });
  const child = spawn('mitmdump', ['--listen-host', '127.0.0.1', '--listen-port', String(port), '--set', `confdir=${confdir}`,
    '--set', 'ssl_insecure=true', '--set', 'stream_large_bodies=1', '--set', 'connection_strategy=lazy', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const caFile = path.join(confdir, 'mitmproxy-ca-cert.pem');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => { const s = net.connect(port, '127.0.0.1', () => { s.destroy(); r(true); }); s.on('error', () => r(false)); });
    if (up && fs.existsSync(caFile)) break;
    if (Date.now() > deadline) { child.kill(); throw new Error('mitmdump did not start within 20 s'); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, caPem: fs.readFileSync(caFile, 'utf8'), pid: child.pid!, stop: () => child.kill('SIGTERM') };
}

/** User + system CPU time of a process so far (µs), from /proc/PID/stat. */
export function cpuMicrosOfPid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / 100) * 1e6; // USER_HZ is 100 on Linux
}

function rssOfPid(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) * 1024;
}

// ---- the run -------------------------------------------------------------------------------

export async function benchProxy(options: ProxyBenchOptions = {}): Promise<ProxyBenchResult> {
  const o: Required<ProxyBenchOptions> = {
    latencySamples: 2000, warmupRequests: 5000, throughputSeconds: 3, concurrency: 32, openStreams: 500, sseSamples: 50, pacedStreams: 10, mitmproxy: true, ...options,
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-proxy-'));
  const upstream = await startUpstreamProcess(dir);
  const heimdall = await startHeimdall(path.join(dir, 'state'), upstream);
  const relay = await startRelay(path.join(dir, 'relay-state'), upstream);
  const withMitm = o.mitmproxy && mitmdumpAvailable();
  const mitm = withMitm ? await startMitmdump(path.join(dir, 'mitm')) : undefined;
  try {
    const processRoundTrip = await measureProcessRoundTrip(upstream.echoPort!, o.latencySamples);
    const directSpec: PathSpec = {
      name: 'direct',
      open: async () => new Conn(await openTls({ port: upstream.port, ca: upstream.caPem, servername: 'localhost' }), 'localhost'),
    };
    const direct = await measurePath(directSpec, o);
    const relaySpec: PathSpec = {
      name: 'relay',
      cpu: () => relay.cpu(),
      open: async () => new Conn(await openTls({ port: 443, ca: relay.caPem, servername: 'api.openai.com', proxyPort: relay.port, authority: 'api.openai.com:443' }), 'api.openai.com'),
    };
    const viaRelay = { ...await measurePath(relaySpec, o), chunkHold: (await measureChunkHold(relaySpec, directSpec, o.pacedStreams)).proxied };
    await relay.stop();
    await new Promise((r) => setTimeout(r, 500));
    const rssIdle = (await heimdall.rss()).rss;
    const heimdallSpec: PathSpec = {
      name: 'heimdall',
      cpu: () => heimdall.cpu(),
      open: async () => new Conn(await openTls({ port: 443, ca: heimdall.caPem, servername: 'api.openai.com', proxyPort: heimdall.port, authority: 'api.openai.com:443' }), 'api.openai.com'),
    };
    const viaHeimdall = await measurePath(heimdallSpec, o);
    const heimdallHold = await measureChunkHold(heimdallSpec, directSpec, o.pacedStreams);

    // 500 open streams held through the proxy, then its RSS.
    const held: Conn[] = [];
    for (let i = 0; i < o.openStreams; i++) {
      const c = new Conn(await openTls({ port: 443, ca: heimdall.caPem, servername: 'api.openai.com', proxyPort: heimdall.port, authority: 'api.openai.com:443' }), 'api.openai.com');
      await c.firstEvent('/v1/chat/completions/sse-hold');
      held.push(c);
    }
    const withStreams = await heimdall.rss();
    for (const c of held) c.close();

    let mitmNumbers: ProxyBenchResult['mitmdump'];
    if (mitm) {
      const mitmIdle = rssOfPid(mitm.pid);
      const mitmSpec: PathSpec = {
        name: 'mitmdump',
        cpu: () => Promise.resolve({ micros: cpuMicrosOfPid(mitm.pid) }),
        open: async () => new Conn(await openTls({ port: 443, ca: mitm.caPem, servername: 'localhost', proxyPort: mitm.port, authority: `127.0.0.1:${upstream.port}` }), 'localhost'),
      };
      const n = await measurePath(mitmSpec, o);
      mitmNumbers = { ...n, chunkHold: (await measureChunkHold(mitmSpec, directSpec, o.pacedStreams)).proxied, rssIdleMb: mitmIdle / 2 ** 20 };
    }

    const result: ProxyBenchResult = {
      processRoundTrip,
      direct: { ...direct, chunkHold: heimdallHold.direct },
      relay: viaRelay,
      heimdall: { ...viaHeimdall, chunkHold: heimdallHold.proxied, rssIdleMb: rssIdle / 2 ** 20, rssOpenStreamsMb: withStreams.rss / 2 ** 20, openStreams: withStreams.active },
      added: {
        p50Ms: viaHeimdall.p50Ms - direct.p50Ms,
        p99Ms: viaHeimdall.p99Ms - direct.p99Ms,
        sseTtfbMs: viaHeimdall.sseTtfbP50Ms - direct.sseTtfbP50Ms,
      },
      ratios: { throughputVsDirect: viaHeimdall.reqPerSec / direct.reqPerSec },
    };
    if (mitmNumbers) {
      result.mitmdump = mitmNumbers;
      result.ratios.throughputVsMitmdump = viaHeimdall.reqPerSec / mitmNumbers.reqPerSec;
      result.ratios.addedP50VsMitmdump = (viaHeimdall.p50Ms - direct.p50Ms) / (mitmNumbers.p50Ms - direct.p50Ms);
    }
    return result;
  } finally {
    mitm?.stop();
    if (relay.child.exitCode === null && relay.child.signalCode === null) relay.child.kill();
    await heimdall.stop();
    upstream.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatProxyBench(r: ProxyBenchResult): string {
  const ms = (v: number): string => `${v.toFixed(3)} ms`;
  const row = (name: string, n: PathNumbers & { chunkHold: HoldOnTheWay }): string =>
    `${name.padEnd(9)} p50 ${ms(n.p50Ms)}  p99 ${ms(n.p99Ms)}  SSE first event ${ms(n.sseTtfbP50Ms)}  ${n.reqPerSec.toFixed(0)} req/s @32  chunk hold p50 ${ms(n.chunkHold.p50Ms)} max ${ms(n.chunkHold.maxMs)}` +
    (n.cpuPerRequestUs !== undefined ? `  proxy CPU ${n.cpuPerRequestUs.toFixed(0)} µs/request` : '') +
    (n.gcPerRequestUs !== undefined ? ` (GC ${n.gcPerRequestUs.toFixed(1)})` : '');
  const lines = [
    `machine: one loopback round trip to another process p50 ${ms(r.processRoundTrip.p50Ms)}  p99 ${ms(r.processRoundTrip.p99Ms)} (the proxied path has one more than the direct one)`,
    row('direct', r.direct), row('relay', r.relay), row('heimdall', r.heimdall),
  ];
  if (r.mitmdump) lines.push(row('mitmdump', r.mitmdump));
  lines.push(`heimdall added: p50 ${ms(r.added.p50Ms)}  p99 ${ms(r.added.p99Ms)}  SSE first event ${ms(r.added.sseTtfbMs)}`);
  const added = (name: string, h: ChunkHold): string =>
    `${name} p50 ${ms(h.added.p50Ms)} p99 ${ms(h.added.p99Ms)} max ${ms(h.added.maxMs)}`;
  lines.push(`chunk hold added (each chunk against its direct twin, ${r.heimdall.chunkHold.chunks} chunks per proxy): ` +
    [added('relay', r.relay.chunkHold), added('heimdall', r.heimdall.chunkHold), ...(r.mitmdump ? [added('mitmdump', r.mitmdump.chunkHold)] : [])].join(';  '));
  lines.push(`heimdall RSS: idle ${r.heimdall.rssIdleMb.toFixed(1)} MB, with ${r.heimdall.openStreams} open streams ${r.heimdall.rssOpenStreamsMb.toFixed(1)} MB` +
    (r.mitmdump ? `   (mitmdump idle ${r.mitmdump.rssIdleMb.toFixed(1)} MB)` : ''));
  lines.push(`throughput: ${r.ratios.throughputVsDirect.toFixed(2)}x direct` +
    (r.ratios.throughputVsMitmdump ? `, ${r.ratios.throughputVsMitmdump.toFixed(1)}x mitmdump` : '') +
    (r.ratios.addedP50VsMitmdump ? `; added p50 is ${(r.ratios.addedP50VsMitmdump * 100).toFixed(0)}% of mitmdump's` : ''));
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatProxyBench(await benchProxy()));
}
