// Benchmark: the daemon as it ships (dist/heimdall.mjs run by node, built by scripts/bundle.ts),
// signed in with a virtual key from a real reference gateway (sync channel up), so every request
// goes through identification, policy, the audit outbox and the gateway client. Measured in the same
// run against the upstream called directly and against mitmdump (issue 22):
//   - added latency at c=1 (sequential requests on one warm keep-alive connection);
//   - the growth table: req/s, p99, CPU per request and RSS at c = 1, 8, 32, 128, 512 (closed
//     loops, bounded in time), and new connections to the gateway opened while timed;
//   - the audit pipeline's share of the daemon's CPU at c=32 (a CPU profile of the bundle taken over
//     the inspector, read by source file through the bundle's source map);
//   - RSS per idle keep-alive client connection at 1,000 and 5,000, and 60 s after they closed;
//   - `heimdall exec` and `heimdall env` against a bare `node -e 0` (paired, alternating runs);
//   - the first request of a fresh process through the proxy against the same request direct.
// Loopback only. Run alone with `node test/bench/shipped.ts`; the bench runner calls benchShipped().
import { fork, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { SourceMap } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { bundleAgent, bundleBytes } from '../../scripts/bundle.ts';
import { login, startDaemon, type RunningDaemon } from './daemon.ts';
import { admin, rssBytes, startGatewayProcess } from './gateway.ts';
import { Conn, cpuMicrosOfPid, mitmdumpAvailable, openTls, percentile, startMitmdump, startUpstreamProcess, type Upstream } from './proxy.ts';

export interface ShippedOptions {
  levels?: readonly number[];
  /** Seconds of closed-loop requests per concurrency level and path. */
  secondsPerLevel?: number;
  warmupRequests?: number;
  latencySamples?: number;
  /** Idle keep-alive client connections held for the memory readings (the larger last). */
  idleConnections?: readonly number[];
  /** Seconds after the idle connections closed before RSS is read again. */
  afterCloseSeconds?: number;
  /** Runs of each command in the launcher and first-request comparisons. */
  processRuns?: number;
  mitmproxy?: boolean;
}

export interface LevelNumbers {
  concurrency: number;
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of the process in the middle (the upstream's own for the direct path), µs per request. */
  cpuPerRequestUs: number;
  /** RSS of that process at the end of the level (MiB). */
  rssMb: number;
  /** TLS connections the upstream accepted while timed (for the daemon: new gateway connections). */
  newUpstreamConnections: number;
  /**
   * Of those, the ones that replaced a connection closed while timed (new minus the growth of the
   * open count): a pool that grows to a new peak of concurrent requests opens a connection once, a
   * pool that churns opens one per some number of requests.
   */
  replacedUpstreamConnections: number;
}

export interface IdleMemory {
  beforeMb: number;
  /** RSS with n idle connections open, by n. */
  withMb: Map<number, number>;
  /** RSS `afterCloseSeconds` after the last of them closed. */
  afterCloseMb: number | undefined;
}

export interface ShippedResult {
  bundleBytes: number;
  bundleStartMb: number;
  sequential: { direct: Latency; heimdall: Latency; mitmdump?: Latency };
  levels: { direct: LevelNumbers[]; heimdall: LevelNumbers[]; mitmdump?: LevelNumbers[] };
  /**
   * direct: the upstream server's own RSS with the connections made to it. nodeTls: a bare Node
   * server with the daemon's CONNECT and TLS layering and leaf kind (tls-floor-child.ts), Node's floor.
   */
  idle: { heimdall: IdleMemory; mitmdump?: IdleMemory; direct: IdleMemory; nodeTls: IdleMemory };
  afterCloseSeconds: number;
  audit: AuditShare | undefined;
  launcher: Launcher;
  firstRequest: { directMs: number; heimdallMs: number; runs: number };
  notes: string[];
}

interface Latency { p50Ms: number; p99Ms: number }

export interface AuditShare {
  /** Sampled main-thread time at c=32, not idle (ms). */
  busyMs: number;
  /** Of which under a frame of the audit pipeline's source files (ms). */
  auditMs: number;
  /** The audit part by source file (ms), largest first. */
  byFile: [string, number][];
  /** All sampled time by the file of the function running (self time; ms), largest first. */
  selfByFile: [string, number][];
  /** The audit part by the function running (self time; ms), largest first. */
  auditSelf: [string, number][];
}

export interface Launcher {
  runs: number;
  /** Medians of whole runs, ms. */
  trueMs: number;
  bareNodeMs: number;
  execTrueMs: number;
  envMs: number;
}

/** The source files whose frames make a sample the audit pipeline's (record, outbox, sender). */
const AUDIT_FILES = [
  'agent/src/daemon/audit.ts',
  'agent/src/policy/audit.ts',
  'agent/src/policy/seen-apps.ts',
  'agent/src/sync/outbox.ts',
  'agent/src/sync/outbox-recent.ts',
  'agent/src/sync/event-check.ts',
  'agent/src/sync/outbox-sender.ts',
  'agent/src/store/',
  'protocol/',
];

const mib = (bytes: number): number => bytes / 2 ** 20;


interface PathUnderTest {
  name: string;
  open(): Promise<Conn>;
  /** The process whose CPU and RSS count for this path. */
  pid(): number;
  cpuMicros(): Promise<number>;
}

/** Opens `n` connections, `batch` handshakes at a time, each having done one request. */
async function openMany(p: PathUnderTest, n: number, batch = 32): Promise<Conn[]> {
  const conns: Conn[] = [];
  while (conns.length < n) {
    const more = await Promise.all(Array.from({ length: Math.min(batch, n - conns.length) }, async () => {
      const c = await p.open();
      await c.request('/v1/chat/completions');
      return c;
    }));
    conns.push(...more);
  }
  return conns;
}

async function sequentialLatency(p: PathUnderTest, warmup: number, samples: number): Promise<Latency> {
  const conn = await p.open();
  for (let i = 0; i < warmup; i++) await conn.request('/v1/chat/completions');
  const lat: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await conn.request('/v1/chat/completions');
    lat.push(performance.now() - t0);
  }
  conn.close();
  return { p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99) };
}

async function runLevel(p: PathUnderTest, upstream: Upstream, concurrency: number, seconds: number): Promise<LevelNumbers> {
  const conns = await openMany(p, concurrency);
  // Untimed, at this concurrency: half a second and at least 8 requests on every connection. A pool
  // that grows with demand (Heimdall's gateway client) reaches its size for this load here, so what
  // is counted while timed is the connections opened per request in the steady state, not the
  // growth. At c=512 half a second alone was ~5 requests a connection, and the pool was still
  // finding new peaks of concurrent requests while timed (17 new connections in 9,882 requests).
  const warm = performance.now() + 500;
  await Promise.all(conns.map(async (c) => { for (let n = 0; n < 8 || performance.now() < warm; n++) await c.request('/v1/chat/completions'); }));
  const lat: number[] = [];
  const { connections: connsBefore, open: openBefore } = await upstream.stats();
  const cpuBefore = await p.cpuMicros();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  await Promise.all(conns.map(async (c) => {
    while (performance.now() < until) {
      const s = performance.now();
      await c.request('/v1/chat/completions');
      lat.push(performance.now() - s);
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  const cpuAfter = await p.cpuMicros();
  const { connections: connsAfter, open: openAfter } = await upstream.stats();
  const rssMb = mib(rssBytes(p.pid()));
  for (const c of conns) c.close();
  await sleep(300); // the closes reach the proxy before the next level opens its connections
  return {
    concurrency, requests: lat.length, reqPerSec: lat.length / elapsed,
    p50Ms: percentile(lat, 50), p99Ms: percentile(lat, 99),
    cpuPerRequestUs: (cpuAfter - cpuBefore) / lat.length, rssMb,
    newUpstreamConnections: connsAfter - connsBefore,
    replacedUpstreamConnections: connsAfter - connsBefore - (openAfter - openBefore),
  };
}

/** RSS with 1,000 then 5,000 idle keep-alive connections; closes them and returns when they are closed. */
async function holdIdle(p: PathUnderTest, counts: readonly number[]): Promise<{ memory: IdleMemory; closedAt: number }> {
  await sleep(1000);
  const memory: IdleMemory = { beforeMb: mib(rssBytes(p.pid())), withMb: new Map(), afterCloseMb: undefined };
  const held: Conn[] = [];
  try {
    for (const n of [...counts].sort((a, b) => a - b)) {
      held.push(...await openMany(p, n - held.length, 64));
      await sleep(1000);
      memory.withMb.set(n, mib(rssBytes(p.pid())));
    }
  } finally {
    for (const c of held) c.close();
  }
  return { memory, closedAt: performance.now() };
}

// ---- the audit pipeline's share, from a CPU profile over the inspector ---------------------------

interface ProfileNode { id: number; callFrame: { url: string; lineNumber: number; columnNumber: number; functionName: string }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

/** Starts the inspector in a running daemon (SIGUSR1; it was started with --inspect-port=0) and connects. */
async function inspect(d: RunningDaemon): Promise<{ call<T>(method: string, params?: object): Promise<T>; close(): void }> {
  process.kill(d.child.pid!, 'SIGUSR1');
  let url: string | undefined;
  for (let i = 0; i < 100 && !url; i++) {
    url = /Debugger listening on (ws:\/\/\S+)/.exec(d.output())?.[1];
    if (!url) await sleep(50);
  }
  if (!url) throw new Error('the daemon did not start its inspector');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let next = 1;
  const waiting = new Map<number, (m: { result?: unknown; error?: { message: string } }) => void>();
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  return {
    call: <T>(method: string, params: object = {}) => new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result as T)));
      ws.send(JSON.stringify({ id, method, params }));
    }),
    close: () => ws.close(),
  };
}

/** Sampled time by category: a sample is the audit pipeline's when any frame on its stack comes from AUDIT_FILES. */
/** The source map of one file of the bundle (the entry or a chunk beside it), read once; undefined for other code. */
function bundleMaps(bundlePath: string): (url: string) => SourceMap | undefined {
  const dir = path.dirname(bundlePath);
  const maps = new Map<string, SourceMap | undefined>();
  return (url) => {
    if (!url.startsWith('file:') || !url.endsWith('.mjs')) return undefined;
    const file = fileURLToPath(url);
    if (!file.startsWith(dir + path.sep)) return undefined;
    if (!maps.has(file)) {
      let map: SourceMap | undefined;
      try {
        map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]);
      } catch {
        map = undefined;
      }
      maps.set(file, map);
    }
    return maps.get(file);
  };
}

function auditShareOf(profile: Profile, mapFor: (url: string) => SourceMap | undefined): AuditShare {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labelOf = new Map<number, string>();
  /** Where a frame's code lives: a source file of the bundle, a Node internal module, or V8's own label. */
  const label = (n: ProfileNode): string => {
    const known = labelOf.get(n.id);
    if (known !== undefined) return known;
    const { url, lineNumber, columnNumber, functionName } = n.callFrame;
    let l: string;
    const map = mapFor(url);
    if (map) {
      const entry = map.findEntry(lineNumber, columnNumber) as { originalSource?: string };
      l = entry.originalSource?.replace(/^.*?(agent\/src\/|protocol\/|lib\/|node_modules\/)/, '$1').replace(/^(node_modules\/(@[^/]+\/)?[^/]+)\/.*$/, '$1') ?? 'heimdall.mjs';
    } else if (url) {
      l = url.replace(/^node:internal\/([^/]+).*$/, 'node:internal/$1');
    } else {
      l = functionName === '' ? '(native)' : functionName;
    }
    labelOf.set(n.id, l);
    return l;
  };
  const sourceOf = (n: ProfileNode): string | undefined => {
    const l = label(n);
    return AUDIT_FILES.some((f) => l.startsWith(f)) ? l : undefined;
  };
  const auditFileOfStack = new Map<number, string | null>();
  const stackAudit = (id: number): string | null => {
    const known = auditFileOfStack.get(id);
    if (known !== undefined) return known;
    const n = byId.get(id)!;
    const up = parent.get(id);
    // The outermost audit frame names the file: the pipeline's entry that led to this sample.
    const fromAbove = up !== undefined ? stackAudit(up) : null;
    const result = fromAbove ?? sourceOf(n) ?? null;
    auditFileOfStack.set(id, result);
    return result;
  };
  let busy = 0;
  let audit = 0;
  const byFile = new Map<string, number>();
  const selfByFile = new Map<string, number>();
  const auditSelf = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const name = byId.get(id)!.callFrame.functionName;
    if (name === '(idle)' || name === '(program)') return;
    busy += dt;
    const self = label(byId.get(id)!);
    selfByFile.set(self, (selfByFile.get(self) ?? 0) + dt);
    const file = stackAudit(id);
    if (file) {
      audit += dt;
      byFile.set(file, (byFile.get(file) ?? 0) + dt);
      const fn = `${byId.get(id)!.callFrame.functionName || '(anonymous)'} (${self})`;
      auditSelf.set(fn, (auditSelf.get(fn) ?? 0) + dt);
    }
  });
  const largest = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]);
  return { busyMs: busy, auditMs: audit, byFile: largest(byFile), selfByFile: largest(selfByFile), auditSelf: largest(auditSelf) };
}

async function profileAudit(d: RunningDaemon, p: PathUnderTest, upstream: Upstream, bundlePath: string, seconds: number): Promise<AuditShare> {
  const map = bundleMaps(bundlePath);
  const inspector = await inspect(d);
  try {
    await inspector.call('Profiler.enable');
    await inspector.call('Profiler.setSamplingInterval', { interval: 200 });
    await inspector.call('Profiler.start');
    await runLevel(p, upstream, 32, seconds);
    const { profile } = await inspector.call<{ profile: Profile }>('Profiler.stop');
    if (process.env['HEIMDALL_BENCH_CPUPROFILE']) fs.writeFileSync(process.env['HEIMDALL_BENCH_CPUPROFILE'], JSON.stringify(profile));
    return auditShareOf(profile, map);
  } finally {
    inspector.close();
  }
}

// ---- whole processes: the launcher and a fresh process's first request --------------------------

function timeRun(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env } : {}), timeout: 20_000 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${[cmd, ...args].join(' ')} exited ${r.status}: ${r.stderr.toString().slice(0, 300)}`);
  return ms;
}

/** Alternating runs of each command (one warm-up each), medians. */
function pairedMedians(commands: readonly (readonly string[])[], runs: number): number[] {
  const times: number[][] = commands.map(() => []);
  for (let r = -1; r < runs; r++) {
    commands.forEach((c, i) => {
      const ms = timeRun(c[0]!, c.slice(1));
      if (r >= 0) times[i]!.push(ms);
    });
  }
  return times.map((t) => percentile(t, 50));
}

// A fresh Node process that opens one TLS connection (through the proxy's CONNECT when given a
// proxy port) and sends one request; it prints the time from before connecting to the whole reply.
const FIRST_REQUEST = `
const net = require('node:net'), tls = require('node:tls');
const [port, ca, servername, proxyPort, authority] = process.argv.slice(1);
const t0 = performance.now();
const go = (socket) => {
  const t = tls.connect({ ...(socket ? { socket } : { port: Number(port), host: '127.0.0.1' }), servername, ca, ALPNProtocols: ['http/1.1'] }, () => {
    t.write('POST /v1/chat/completions HTTP/1.1\\r\\nHost: ' + servername + '\\r\\ncontent-type: application/json\\r\\nauthorization: Bearer sk-app\\r\\ncontent-length: 2\\r\\nconnection: close\\r\\n\\r\\n{}');
  });
  let got = '';
  t.on('data', (d) => { got += d.toString('latin1'); });
  t.on('end', () => { if (!got.startsWith('HTTP/1.1 200')) { console.error(got.slice(0, 200)); process.exit(1); } console.log(performance.now() - t0); });
};
if (proxyPort) {
  const s = net.connect(Number(proxyPort), '127.0.0.1', () => s.write('CONNECT ' + authority + ' HTTP/1.1\\r\\nHost: ' + authority + '\\r\\n\\r\\n'));
  s.once('data', () => go(s));
} else go();
`;

function firstRequestMs(args: readonly string[]): number {
  const r = spawnSync(process.execPath, ['-e', FIRST_REQUEST, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`first-request client failed: ${r.stderr.slice(0, 300)}`);
  return Number(r.stdout.trim());
}

// ---- mitmdump -------------------------------------------------------------------------------

const startMitm = startMitmdump;

// ---- the run --------------------------------------------------------------------------------

export async function benchShipped(options: ShippedOptions = {}): Promise<ShippedResult> {
  if (process.platform !== 'linux') throw new Error('the shipped-daemon benchmark reads /proc: Linux only');
  const o = {
    levels: [1, 8, 32, 128, 512], secondsPerLevel: 2, warmupRequests: 5000, latencySamples: 1000,
    idleConnections: [1000, 5000], afterCloseSeconds: 60, processRuns: 10, mitmproxy: true, ...options,
  };
  const notes: string[] = [];
  const bundlePath = await bundleAgent(undefined, { sourcemap: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-shipped-'));
  const upstream = await startUpstreamProcess(dir);
  const floor = await startTlsFloorProcess(path.join(dir, 'floor'));
  const gw = await startGatewayProcess();
  const withMitm = o.mitmproxy && mitmdumpAvailable();
  if (!withMitm) notes.push('mitmdump is not installed (Debian package `mitmproxy`): its columns are missing');
  let daemon: RunningDaemon | undefined;
  let mitm: Awaited<ReturnType<typeof startMitm>> | undefined;
  try {
    const { key } = (await admin(gw, 'POST', 'keys', { user_email: 'bench@bench.example' })) as { key: string };
    // --inspect-port=0: no inspector runs until the audit profile sends SIGUSR1, and then on a free port.
    daemon = await startDaemon(bundlePath, dir, 'shipped', gw.url, `https://127.0.0.1:${upstream.port}`, upstream.caPath, ['--inspect-port=0']);
    const d = daemon;
    await login(bundlePath, d.stateDir, key);
    const wait = d.startedAt + 5000 - performance.now();
    if (wait > 0) await sleep(wait);
    const bundleStartMb = mib(rssBytes(d.child.pid!));
    mitm = withMitm ? await startMitm(path.join(dir, 'mitm')) : undefined;

    const daemonCa = fs.readFileSync(path.join(d.stateDir, 'ca.pem'), 'utf8');
    const upstreamStats = async (): Promise<number> => (await upstream.stats()).cpuMicros;
    let upstreamPid = 0;
    const direct: PathUnderTest = {
      name: 'direct',
      open: async () => new Conn(await openTls({ port: upstream.port, ca: upstream.caPem, servername: 'localhost' }), 'localhost'),
      pid: () => upstreamPid,
      cpuMicros: upstreamStats,
    };
    upstreamPid = await upstreamPidOf(upstream);
    const heimdall: PathUnderTest = {
      name: 'heimdall',
      open: async () => new Conn(await openTls({ port: 443, ca: daemonCa, servername: 'api.openai.com', proxyPort: d.proxyPort, authority: 'api.openai.com:443' }), 'api.openai.com'),
      pid: () => d.child.pid!,
      cpuMicros: () => Promise.resolve(cpuMicrosOfPid(d.child.pid!)),
    };
    const nodeTls: PathUnderTest = {
      name: 'node-tls',
      open: async () => new Conn(await openTls({ port: 443, ca: floor.caPem, servername: 'api.openai.com', proxyPort: floor.port, authority: 'api.openai.com:443' }), 'api.openai.com'),
      pid: () => floor.pid,
      cpuMicros: () => Promise.resolve(cpuMicrosOfPid(floor.pid)),
    };
    const m = mitm;
    const viaMitm: PathUnderTest | undefined = m && {
      name: 'mitmdump',
      open: async () => new Conn(await openTls({ port: 443, ca: m.caPem, servername: 'localhost', proxyPort: m.port, authority: `127.0.0.1:${upstream.port}` }), 'localhost'),
      pid: () => m.pid,
      cpuMicros: () => Promise.resolve(cpuMicrosOfPid(m.pid)),
    };

    // The first request of fresh processes, before the long-running phases warm anything up beyond
    // what a daemon that has served a few requests has.
    const firstDirect: number[] = [];
    const firstHeimdall: number[] = [];
    for (let r = -1; r < o.processRuns; r++) {
      const a = firstRequestMs([String(upstream.port), upstream.caPem, 'localhost']);
      const b = firstRequestMs(['443', daemonCa, 'api.openai.com', String(d.proxyPort), 'api.openai.com:443']);
      if (r >= 0) { firstDirect.push(a); firstHeimdall.push(b); }
    }

    // The launcher: `heimdall exec -- true` and `heimdall env` against `true` and `node -e 0`.
    const [trueMs = NaN, bareNodeMs = NaN, execTrueMs = NaN, envMs = NaN] = pairedMedians([
      ['/bin/true'],
      [process.execPath, '-e', '0'],
      [process.execPath, bundlePath, 'exec', '--state-dir', d.stateDir, '--', '/bin/true'],
      [process.execPath, bundlePath, 'env', '--state-dir', d.stateDir],
    ], o.processRuns);

    const seqDirect = await sequentialLatency(direct, 1000, o.latencySamples);
    const seqHeimdall = await sequentialLatency(heimdall, o.warmupRequests, o.latencySamples);
    const seqMitm = viaMitm ? await sequentialLatency(viaMitm, 500, o.latencySamples) : undefined;

    // Idle keep-alive connections, first through Heimdall on the daemon as it is after the warm-up
    // (its pre-load RSS), then through mitmdump and to the upstream directly while Heimdall's RSS
    // settles after its connections closed; its reading comes before any further load.
    const heimdallIdle = await holdIdle(heimdall, o.idleConnections);
    const mitmIdle = viaMitm ? await holdIdle(viaMitm, o.idleConnections) : undefined;
    const directIdle = await holdIdle(direct, o.idleConnections);
    // The floor's process has served only its warm-up, as the daemon had before its idle phase.
    await sequentialLatency(nodeTls, o.warmupRequests, 1);
    const nodeTlsIdle = await holdIdle(nodeTls, o.idleConnections);
    const settle = heimdallIdle.closedAt + o.afterCloseSeconds * 1000 - performance.now();
    if (settle > 0) await sleep(settle);
    heimdallIdle.memory.afterCloseMb = mib(rssBytes(d.child.pid!));
    if (mitmIdle && m) mitmIdle.memory.afterCloseMb = mib(rssBytes(m.pid));
    directIdle.memory.afterCloseMb = mib(rssBytes(upstreamPid));

    // The growth table: each level through each path in turn, so a drift of the machine hits all three.
    const levels: ShippedResult['levels'] = { direct: [], heimdall: [] };
    if (viaMitm) levels.mitmdump = [];
    for (const c of o.levels) {
      levels.direct.push(await runLevel(direct, upstream, c, o.secondsPerLevel));
      levels.heimdall.push(await runLevel(heimdall, upstream, c, o.secondsPerLevel));
      if (viaMitm) levels.mitmdump!.push(await runLevel(viaMitm, upstream, c, o.secondsPerLevel));
    }

    let audit: AuditShare | undefined;
    try {
      audit = await profileAudit(d, heimdall, upstream, bundlePath, o.secondsPerLevel);
    } catch (err) {
      notes.push(`the audit profile could not be taken: ${(err as Error).message}`);
    }

    return {
      bundleBytes: bundleBytes(bundlePath),
      bundleStartMb,
      sequential: { direct: seqDirect, heimdall: seqHeimdall, ...(seqMitm ? { mitmdump: seqMitm } : {}) },
      levels,
      idle: { heimdall: heimdallIdle.memory, ...(mitmIdle ? { mitmdump: mitmIdle.memory } : {}), direct: directIdle.memory, nodeTls: nodeTlsIdle.memory },
      afterCloseSeconds: o.afterCloseSeconds,
      audit,
      launcher: { runs: o.processRuns, trueMs, bareNodeMs, execTrueMs, envMs },
      firstRequest: { directMs: percentile(firstDirect, 50), heimdallMs: percentile(firstHeimdall, 50), runs: o.processRuns },
      notes,
    };
  } finally {
    mitm?.stop();
    await daemon?.stop();
    await gw.stop();
    upstream.close();
    floor.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** tls-floor-child.ts in a process of its own; close() ends it. */
async function startTlsFloorProcess(dir: string): Promise<{ port: number; caPem: string; pid: number; close(): void }> {
  fs.mkdirSync(dir, { recursive: true });
  const child = fork(fileURLToPath(new URL('./tls-floor-child.ts', import.meta.url)), [dir], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'] });
  const ready = await new Promise<{ port: number; caPem: string }>((resolve, reject) => {
    child.once('message', (m: { port: number; caPem: string }) => resolve(m));
    child.once('exit', (code) => reject(new Error(`the TLS floor child exited with ${code}`)));
  });
  return { ...ready, pid: child.pid!, close: () => child.disconnect() };
}

async function upstreamPidOf(upstream: Upstream): Promise<number> {
  return (await upstream.stats()).pid;
}

// ---- output --------------------------------------------------------------------------------

const f1 = (v: number): string => v.toFixed(1);
const f3 = (v: number): string => v.toFixed(3);

export function formatShipped(r: ShippedResult): string[] {
  const s = r.sequential;
  const lines = [
    `bundle ${f1(r.bundleBytes / 2 ** 20)} MiB; RSS 5 s after start ${f1(r.bundleStartMb)} MiB`,
    `c=1, sequential on one warm connection: direct p50 ${f3(s.direct.p50Ms)} ms p99 ${f3(s.direct.p99Ms)} ms;  heimdall p50 ${f3(s.heimdall.p50Ms)} ms p99 ${f3(s.heimdall.p99Ms)} ms` +
      (s.mitmdump ? `;  mitmdump p50 ${f3(s.mitmdump.p50Ms)} ms p99 ${f3(s.mitmdump.p99Ms)} ms` : ''),
    `heimdall added at c=1: p50 ${f3(s.heimdall.p50Ms - s.direct.p50Ms)} ms  p99 ${f3(s.heimdall.p99Ms - s.direct.p99Ms)} ms`,
    '',
    'growth (closed loops, keep-alive; CPU and RSS of the process in the middle, the upstream\'s own for direct; gw conns = new TLS connections the upstream accepted while timed / of those, replacing one closed while timed):',
    `${'path'.padEnd(9)} ${'c'.padStart(4)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'CPU µs/req'.padStart(10)} ${'RSS MiB'.padStart(8)} ${'gw conns'.padStart(11)} ${'requests'.padStart(8)}`,
  ];
  for (const [name, rows] of Object.entries<LevelNumbers[]>(r.levels)) {
    for (const l of rows) {
      lines.push(`${name.padEnd(9)} ${String(l.concurrency).padStart(4)} ${l.reqPerSec.toFixed(0).padStart(7)} ${f3(l.p50Ms).padStart(8)} ${f3(l.p99Ms).padStart(8)} ${l.cpuPerRequestUs.toFixed(0).padStart(10)} ${f1(l.rssMb).padStart(8)} ${(name === 'mitmdump' ? '-' : `${l.newUpstreamConnections} / ${l.replacedUpstreamConnections}`).padStart(11)} ${String(l.requests).padStart(8)}`);
    }
  }
  lines.push('');
  for (const [name, m] of Object.entries<IdleMemory>(r.idle)) {
    const withs = [...m.withMb].map(([n, v]) => `${n} idle ${f1(v)} MiB (${perConnKiB(m, n).toFixed(1)} KiB each)`).join(', ');
    lines.push(`${name.padEnd(9)} idle connections: before ${f1(m.beforeMb)} MiB, ${withs}; ${m.afterCloseMb === undefined ? 'n/a' : `${f1(m.afterCloseMb)} MiB`} after they closed`);
  }
  if (r.audit) {
    lines.push(`audit pipeline at c=32: ${f1(r.audit.auditMs)} of ${f1(r.audit.busyMs)} ms sampled on the main thread (${(auditShare(r.audit) * 100).toFixed(1)}%): ` +
      r.audit.byFile.slice(0, 6).map(([file, ms]) => `${file} ${f1(ms)}`).join(', '));
    lines.push(`the audit part by function (self time, ms): ${r.audit.auditSelf.slice(0, 10).map(([fn, ms]) => `${fn} ${f1(ms)}`).join(', ')}`);
    lines.push(`where the main thread's time goes at c=32 (self time by file, ms): ${r.audit.selfByFile.slice(0, 12).map(([file, ms]) => `${file} ${f1(ms)}`).join(', ')}`);
  }
  const l = r.launcher;
  lines.push(`launcher (median of ${l.runs} alternating runs): true ${f1(l.trueMs)} ms, node -e 0 ${f1(l.bareNodeMs)} ms, heimdall exec -- true ${f1(l.execTrueMs)} ms (adds ${f1(l.execTrueMs - l.trueMs)}), heimdall env ${f1(l.envMs)} ms`);
  lines.push(`first request of a fresh process (connect, TLS, one request; median of ${r.firstRequest.runs}): direct ${f3(r.firstRequest.directMs)} ms, through heimdall ${f3(r.firstRequest.heimdallMs)} ms (adds ${f3(r.firstRequest.heimdallMs - r.firstRequest.directMs)})`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines;
}

export const perConnKiB = (m: IdleMemory, n: number): number => (((m.withMb.get(n) ?? NaN) - m.beforeMb) * 1024) / n;
export const auditShare = (a: AuditShare): number => a.auditMs / a.busyMs;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const r = await benchShipped(quick ? { levels: [1, 32, 512], secondsPerLevel: 1, warmupRequests: 2000, idleConnections: [1000], afterCloseSeconds: 10, processRuns: 4 } : {});
  console.log(formatShipped(r).join('\n'));
}
