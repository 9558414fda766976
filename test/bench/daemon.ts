// Benchmark: resident memory of the real daemon (`heimdall run`), run from source (Node strips the
// TypeScript types) and as the bundle that ships (dist/heimdall.mjs, built by scripts/bundle.ts),
// next to a bare Node process measured in the same run. Each daemon is signed in (a virtual key from
// a real reference gateway as control plane, so its sync channel is up, as on a real machine) and
// forwards to a local HTTPS upstream. Memory is read from /proc 5 s after start and again after a
// quiet period (V8's memory reducer shrinks the heap once a process has been idle for ~30 s), then
// with `openStreams` SSE streams held open through each daemon's proxy.
// Request timing through the shipped daemon is the shipped module's (test/bench/shipped.ts).
// Run alone with `node test/bench/daemon.ts [idle-seconds]`; the bench runner calls benchDaemonMemory().
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { bundleAgent, bundleBytes } from '../../scripts/bundle.ts';
import { admin, rssBytes, startGatewayProcess } from './gateway.ts';
import { Conn, openTls, startUpstreamProcess } from './proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SOURCE_ENTRY = path.join(ROOT, 'bin/heimdall.js');

export interface DaemonMemoryOptions {
  /** Seconds of quiet after start before the idle reading (at least 5). */
  idleSeconds?: number;
  /** SSE streams held open through each daemon's proxy for the last reading. */
  openStreams?: number;
}

export interface DaemonMemory {
  /** RSS 5 s after the daemon said it started (MiB). */
  startMb: number;
  /** RSS after `idleSeconds` of quiet (MiB). */
  idleMb: number;
  /** RSS with `openStreams` streams open through the proxy (MiB); undefined if they could not be opened. */
  streamsMb: number | undefined;
  streamsOpened: number;
}

export interface DaemonMemoryResult {
  idleSeconds: number;
  openStreams: number;
  /** `node -e` with a timer, nothing loaded: the floor any Node program starts from. */
  bareNode: { startMb: number; idleMb: number };
  source: DaemonMemory;
  bundle: DaemonMemory;
  bundleBytes: number;
  notes: string[];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningDaemon {
  child: ChildProcess;
  stateDir: string;
  proxyPort: number;
  startedAt: number;
  /** The last 4,000 characters the daemon printed. */
  output(): string;
  stop(): Promise<void>;
}

export async function startDaemon(entry: string, dir: string, name: string, controlUrl: string, gatewayUrl: string, upstreamCaPath: string, nodeFlags: readonly string[] = []): Promise<RunningDaemon> {
  const stateDir = path.join(dir, name);
  const proxyPort = await freePort();
  const prof = process.env.HEIMDALL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HEIMDALL_BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, ...nodeFlags, entry, 'run', '--state-dir', stateDir, '--control-url', controlUrl, '--gateway-url', gatewayUrl, '--proxy-port', String(proxyPort)], {
    // The upstream's private CA, trusted the way an organization's gateway CA would be.
    // SSL_CERT_FILE is read as the OS store (tls.getCACertificates("system")), which the forwarder trusts.
    env: { ...process.env, SSL_CERT_FILE: upstreamCaPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Logs are drained (a full pipe would block the daemon), keeping only the tail for errors.
  let tail = '';
  const keep = (d: Buffer): void => { tail = (tail + d.toString('utf8')).slice(-4000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const deadline = Date.now() + 30_000;
  while (!tail.includes('heimdall daemon started')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the ${name} daemon did not start:\n${tail}`);
    await sleep(50);
  }
  return {
    child, stateDir, proxyPort, startedAt: performance.now(),
    output: () => tail,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function login(entry: string, stateDir: string, key: string): Promise<void> {
  const child = spawn(process.execPath, [entry, 'login', '--virtual-key', '--state-dir', stateDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  child.stdin.end(key);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`heimdall login failed (${code}): ${out}`);
}

/** Opens `n` SSE streams through the daemon's proxy; each has received its first event. */
async function openStreams(d: RunningDaemon, n: number, held: Conn[]): Promise<void> {
  const ca = fs.readFileSync(path.join(d.stateDir, 'ca.pem'), 'utf8');
  for (let i = 0; i < n; i++) {
    const c = new Conn(await openTls({ port: 443, ca, servername: 'api.openai.com', proxyPort: d.proxyPort, authority: 'api.openai.com:443' }), 'api.openai.com');
    held.push(c);
    let head = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stream ${i + 1} got no event in 10 s: ${head.split('\r\n')[0] ?? ''}`)), 10_000);
      void c.firstEvent('/v1/chat/completions/sse-hold', (text) => {
        head += text;
        if (head.startsWith('HTTP/1.1') && !head.startsWith('HTTP/1.1 200') && head.includes('\r\n\r\n')) {
          clearTimeout(timer);
          reject(new Error(`stream ${i + 1} was answered ${head.split('\r\n')[0]}: ${head.slice(head.indexOf('\r\n\r\n') + 4, head.indexOf('\r\n\r\n') + 300)}`));
        } else if (head.includes('data: ')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }
}

const mb = (bytes: number): number => bytes / 2 ** 20;

export async function benchDaemonMemory(options: DaemonMemoryOptions = {}): Promise<DaemonMemoryResult> {
  if (process.platform !== 'linux') throw new Error('the daemon memory benchmark reads /proc: Linux only');
  const idleSeconds = Math.max(5, Math.min(options.idleSeconds ?? 60, 300));
  const streams = Math.min(options.openStreams ?? 500, 2000);
  const notes: string[] = [];
  const bundlePath = await bundleAgent();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-daemon-'));
  const upstream = await startUpstreamProcess(dir);
  const gw = await startGatewayProcess();
  const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { stdio: 'ignore' });
  const daemons: RunningDaemon[] = [];
  try {
    const { key } = (await admin(gw, 'POST', 'keys', { user_email: 'bench@bench.example' })) as { key: string };
    const upstreamUrl = `https://127.0.0.1:${upstream.port}`;
    // Both daemons run side by side, so they idle over the same period and the run stays short.
    const source = await startDaemon(SOURCE_ENTRY, dir, 'source', gw.url, upstreamUrl, upstream.caPath);
    daemons.push(source);
    const bundle = await startDaemon(bundlePath, dir, 'bundle', gw.url, upstreamUrl, upstream.caPath);
    daemons.push(bundle);
    await login(SOURCE_ENTRY, source.stateDir, key);
    await login(SOURCE_ENTRY, bundle.stateDir, key);

    const readAt = async (d: RunningDaemon, seconds: number): Promise<number> => {
      const wait = d.startedAt + seconds * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      return mb(rssBytes(d.child.pid!));
    };
    const [sourceStart, bundleStart, bareStart] = await Promise.all([readAt(source, 5), readAt(bundle, 5), sleep(5000).then(() => mb(rssBytes(bare.pid!)))]);
    const [sourceIdle, bundleIdle] = await Promise.all([readAt(source, idleSeconds), readAt(bundle, idleSeconds)]);
    const bareIdle = mb(rssBytes(bare.pid!));

    const withStreams = async (d: RunningDaemon): Promise<{ mb: number | undefined; opened: number }> => {
      const opened: Conn[] = [];
      try {
        await openStreams(d, streams, opened);
        await sleep(1000);
        return { mb: mb(rssBytes(d.child.pid!)), opened: opened.length };
      } catch (err) {
        notes.push(`streams through the ${path.basename(d.stateDir)} daemon failed: ${(err as Error).message}`);
        return { mb: undefined, opened: opened.length };
      } finally {
        for (const c of opened) c.close();
      }
    };
    const bundleStreams = await withStreams(bundle);
    const sourceStreams = await withStreams(source);
    return {
      idleSeconds,
      openStreams: streams,
      bareNode: { startMb: bareStart, idleMb: bareIdle },
      source: { startMb: sourceStart, idleMb: sourceIdle, streamsMb: sourceStreams.mb, streamsOpened: sourceStreams.opened },
      bundle: { startMb: bundleStart, idleMb: bundleIdle, streamsMb: bundleStreams.mb, streamsOpened: bundleStreams.opened },
      bundleBytes: bundleBytes(bundlePath),
      notes,
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    bare.kill();
    await gw.stop();
    upstream.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatDaemonMemory(r: DaemonMemoryResult): string {
  const f = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} MiB`);
  const row = (name: string, m: DaemonMemory): string =>
    `${name.padEnd(22)} 5 s after start ${f(m.startMb)}  after ${r.idleSeconds} s idle ${f(m.idleMb)}  with ${m.streamsOpened} open streams ${f(m.streamsMb)}`;
  return [
    `bare node (baseline)   5 s ${f(r.bareNode.startMb)}  after ${r.idleSeconds} s ${f(r.bareNode.idleMb)}`,
    row('daemon from source', r.source),
    row(`daemon bundle (${(r.bundleBytes / 2 ** 20).toFixed(1)} MB)`, r.bundle),
    ...r.notes.map((n) => `note: ${n}`),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatDaemonMemory(await benchDaemonMemory({ idleSeconds: Number(process.argv[2] ?? 60) })));
}
