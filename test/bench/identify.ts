// Benchmark: Linux process identification per new proxy connection with ~500 other processes running
// (each holding a few open files, as real processes do). Two cases: a client process already seen
// (its connections after the first), and a client process never seen (a fresh curl each time, the
// whole /proc scan). A reused connection costs nothing: the proxy looks up once per connection.
// Run alone with `node test/bench/identify.ts [--known N]`; the bench runner calls benchIdentify().
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { AppResolver, LinuxProcessResolver, type PeerQuery } from '../../agent/src/identify/index.ts';

export interface IdentifyBenchOptions {
  /** Idle processes running during the measurement. */
  sleepers?: number;
  /** Open files each idle process holds besides stdio. */
  filesPerSleeper?: number;
  /** Connections from one long-lived client process. */
  knownClientConnections?: number;
  /** Connections each from a new process. */
  newClientConnections?: number;
}

export interface IdentifyBenchResult {
  /** Lookup time per new connection from a process seen before (ms). */
  knownProcessMs: number[];
  /** Lookup time per new connection from a process never seen (ms). */
  newProcessMs: number[];
  /** The same new processes, lookup plus resolveApp with its app-identity checks (what admitConnection pays; ms). */
  newWithAppMs: number[];
  /** resolveApp time after a lookup (catalog match; ms). */
  resolveAppMs: number[];
  processesRunning: number;
}

function acceptQueue(server: net.Server): () => Promise<net.Socket> {
  const queued: net.Socket[] = [];
  const waiting: ((s: net.Socket) => void)[] = [];
  server.on('connection', (s) => {
    s.on('error', () => undefined);
    const w = waiting.shift();
    if (w) w(s);
    else queued.push(s);
  });
  return () => {
    const s = queued.shift();
    return s ? Promise.resolve(s) : new Promise((resolve) => waiting.push(resolve));
  };
}

export async function benchIdentify(options: IdentifyBenchOptions = {}): Promise<IdentifyBenchResult> {
  if (process.platform !== 'linux') throw new Error('the identification benchmark reads /proc: Linux only');
  const sleepers = Math.min(options.sleepers ?? 500, 2000);
  const filesPerSleeper = Math.min(options.filesPerSleeper ?? 8, 64);
  const knownConnections = options.knownClientConnections ?? 300;
  const newConnections = options.newClientConnections ?? 50;

  const children: ChildProcess[] = [];
  const devNull = openSync('/dev/null', 'r');
  const server = net.createServer();
  try {
    const started: Promise<unknown>[] = [];
    for (let i = 0; i < sleepers; i++) {
      const child = spawn('sleep', ['600'], { stdio: ['ignore', 'ignore', 'ignore', ...Array<number>(filesPerSleeper).fill(devNull)] });
      child.on('error', () => undefined);
      started.push(new Promise((resolve) => child.once('spawn', resolve).once('error', resolve)));
      children.push(child);
    }
    // The processes are running before anything is timed: without waiting, the first few hundred
    // lookups shared the machine with 500 process start-ups, and each probed the new pids among them.
    await Promise.all(started);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const next = acceptQueue(server);
    const resolver = new LinuxProcessResolver();
    const apps = new AppResolver({ platform: 'linux' });
    const query = (s: net.Socket): PeerQuery => ({ clientPort: s.remotePort!, clientAddress: s.remoteAddress!, proxyPort: port, proxyAddress: s.localAddress!, family: 'IPv4' });
    const sockets: net.Socket[] = [];

    // One long-lived client opening connections one after another (an agent CLI does this).
    const script = `const net=require('net');let n=0;const go=()=>{if(n++<${knownConnections}){net.connect(${port},'127.0.0.1').on('connect',()=>setTimeout(go,2)).on('error',()=>{})}};go();setTimeout(()=>{},600000);`;
    const client = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
    children.push(client);
    const knownProcessMs: number[] = [];
    const resolveAppMs: number[] = [];
    for (let i = 0; i < knownConnections; i++) {
      const socket = await next();
      sockets.push(socket);
      const start = performance.now();
      const identity = await resolver.lookupByLocalPeer(query(socket));
      const looked = performance.now();
      await apps.resolveApp(identity);
      resolveAppMs.push(performance.now() - looked);
      // The first connection of the process is a cold scan; the rest are what this case measures.
      if (i > 0) knownProcessMs.push(looked - start);
      if (identity?.pid !== client.pid) throw new Error(`benchmark lookup found pid ${identity?.pid} instead of ${client.pid}`);
    }

    // Fresh processes: each curl is a process the resolver has never seen.
    const newProcessMs: number[] = [];
    const newWithAppMs: number[] = [];
    for (let i = 0; i < newConnections; i++) {
      const curl = spawn('curl', ['-s', '-m', '30', `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
      children.push(curl);
      const socket = await next();
      sockets.push(socket);
      const start = performance.now();
      const identity = await resolver.lookupByLocalPeer(query(socket));
      newProcessMs.push(performance.now() - start);
      await apps.resolveApp(identity);
      newWithAppMs.push(performance.now() - start);
      if (identity?.pid !== curl.pid) throw new Error(`benchmark lookup found pid ${identity?.pid} instead of curl ${curl.pid}`);
      curl.kill('SIGKILL');
    }
    for (const s of sockets) s.destroy();
    return { knownProcessMs, newProcessMs, newWithAppMs, resolveAppMs, processesRunning: sleepers + 1 };
  } finally {
    for (const c of children) c.kill('SIGKILL');
    closeSync(devNull);
    await new Promise((resolve) => server.close(resolve));
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --known N: more connections from the seen-before process, for a p99 that is not the 3rd of 300.
  const known = process.argv.indexOf('--known');
  const r = await benchIdentify(known > 0 ? { knownClientConnections: Number(process.argv[known + 1]) } : {});
  const fmt = (v: number) => `${v.toFixed(3)} ms`;
  const line = (name: string, v: number[]) => console.log(`${name}: p50 ${fmt(percentile(v, 50))}  p99 ${fmt(percentile(v, 99))}  max ${fmt(Math.max(...v))}  (n=${v.length})`);
  console.log(`identification with ${r.processesRunning} extra processes running`);
  line('lookup, known process ', r.knownProcessMs);
  line('lookup, new process   ', r.newProcessMs);
  line('lookup + resolveApp, new', r.newWithAppMs);
  line('resolveApp            ', r.resolveAppMs);
}
