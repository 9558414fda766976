// Benchmark: the MCP room on a home with 1,000 project folders (known to Claude Code, a third with
// their own .mcp.json, a tenth with Cursor configs): a full inventory, change-to-report latency with
// the watcher on, idle CPU with every watch in place, and how many OS watches that takes.
// Run alone with `node test/bench/mcp.ts [idle-seconds]`; the bench runner calls the exported functions.
import { fork } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { McpGovernorOptions } from '../../agent/src/mcp/index.ts';
import { makeRig, writeFile, type Rig } from '../mcp/helpers.ts';

export interface McpBenchHome {
  rig: Rig;
  projects: number;
}

/** A home whose ~/.claude.json knows `projects` folders; some hold their own MCP configs. */
export async function buildBenchHome(projects = 1000, watch = false, options: Partial<McpGovernorOptions> = {}): Promise<McpBenchHome> {
  const rig = await makeRig({ watch, debounceMs: 150, ...options });
  const known: Record<string, unknown> = {};
  for (let i = 0; i < projects; i++) {
    const dir = path.join(rig.dir, 'src', `project-${i}`);
    fs.mkdirSync(dir, { recursive: true });
    known[dir] = { allowedTools: [], mcpServers: i % 50 === 0 ? { [`local-${i}`]: { command: 'node', args: [`tool-${i}.js`] } } : {} };
    if (i % 3 === 0) writeFile(path.join(dir, '.mcp.json'), JSON.stringify({ mcpServers: { [`proj-${i}`]: { command: 'npx', args: ['-y', `server-${i}`], env: { TOKEN: `t-${i}` } } } }));
    if (i % 10 === 0) writeFile(path.join(dir, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { [`cur-${i}`]: { url: `https://mcp${i}.example.com/mcp` } } }));
  }
  writeFile(path.join(rig.home, '.claude.json'), JSON.stringify({ projects: known, mcpServers: { gh: { command: 'npx', args: ['gh'] } } }));
  writeFile(path.join(rig.home, '.cursor/mcp.json'), JSON.stringify({ mcpServers: { probe: { command: 'probe', args: ['0'] } } }));
  return { rig, projects };
}

/** Full inventory (plan, read, normalise, redact) of the bench home, `runs` times (ms each). */
export async function benchFullInventory(projects = 1000, runs = 5): Promise<{ ms: number[]; servers: number }> {
  const { rig } = await buildBenchHome(projects);
  try {
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await rig.governor.rescan();
      rig.governor.inventory();
      ms.push(performance.now() - start);
    }
    return { ms, servers: rig.governor.inventory().servers.length };
  } finally {
    await rig.close();
  }
}

/** Time from a file write to the report carrying the change, with the watcher on (ms per sample). */
export async function benchChangeLatency(samples = 20, projects = 1000): Promise<number[]> {
  const { rig } = await buildBenchHome(projects, true);
  try {
    await rig.governor.start();
    const file = path.join(rig.home, '.cursor/mcp.json');
    const out: number[] = [];
    for (let i = 1; i <= samples; i++) {
      const want = String(i);
      const start = performance.now();
      fs.writeFileSync(`${file}.tmp`, JSON.stringify({ mcpServers: { probe: { command: 'probe', args: [want] } } }));
      fs.renameSync(`${file}.tmp`, file); // editors save by rename
      await rig.waitForReport((inv) => inv.servers.some((s) => s.name === 'probe' && s.args?.[0] === want));
      out.push(performance.now() - start);
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  } finally {
    await rig.close();
  }
}

/** inotify watches held by this process, from /proc/self/fdinfo (Linux; -1 elsewhere). */
export function countInotifyWatches(): number {
  if (process.platform !== 'linux') return -1;
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fdinfo')) {
    try {
      n += fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    } catch {
      // fd closed meanwhile
    }
  }
  return n;
}

export interface IdleCpu {
  cpuMs: number;
  cpuPercent: number;
  /** Seconds between start() returning and the measurement (the start-up's own garbage collection). */
  settleSeconds: number;
  /** CPU used in those seconds (ms): the first scan's aftermath, shown, not counted as idling. */
  settleCpuMs: number;
  watchedDirs: number;
  inotifyWatches: number;
}

/**
 * CPU used while idle with every watch in place, and the number of watches, in a child process of
 * its own: in the runner's process the CPU of whatever the modules before it left (their heaps' GC)
 * was counted as the watchers' (0.91% of a core after the whole run, 0.17% after the inventory runs
 * of this module alone). The window starts `settleSeconds` after start() returned: V8's memory
 * reducer compacts the heap the first scan left ~30 s after it (two full collections, ~60 ms of
 * CPU, seen with --trace-gc), once; that is start-up, and its CPU is reported beside the window.
 */
export async function benchIdleCpu(seconds = 60, projects = 1000, settleSeconds = 40): Promise<IdleCpu> {
  const child = fork(fileURLToPath(new URL('./mcp-idle-child.ts', import.meta.url)), [String(seconds), String(projects), String(settleSeconds)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'] });
  return new Promise((resolve, reject) => {
    child.once('message', (m: IdleCpu) => resolve(m));
    child.once('exit', (code) => reject(new Error(`the idle-CPU child exited with ${code} before it answered`)));
  });
}

/** The idle measurement itself, in the process that runs it (mcp-idle-child.ts). */
export async function measureIdleCpu(seconds: number, projects: number, settleSeconds: number): Promise<IdleCpu> {
  const { rig } = await buildBenchHome(projects, true);
  try {
    const baseline = countInotifyWatches();
    await rig.governor.start();
    const watches = countInotifyWatches() - baseline;
    const started = process.cpuUsage();
    await new Promise((r) => setTimeout(r, settleSeconds * 1000));
    const settled = process.cpuUsage(started);
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const used = process.cpuUsage(before);
    const cpuMs = (used.user + used.system) / 1000;
    return { cpuMs, cpuPercent: (cpuMs / (seconds * 1000)) * 100, settleSeconds, settleCpuMs: (settled.user + settled.system) / 1000, watchedDirs: rig.governor.watchedDirs().length, inotifyWatches: watches };
  } finally {
    await rig.close();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const idleSeconds = Number(process.argv[2] ?? 60);
  const fmt = (v: number): string => `${v.toFixed(1)} ms`;
  const full = await benchFullInventory();
  console.log(`full inventory, 1000 projects, ${full.servers} servers: p50 ${fmt(percentile(full.ms, 50))}  max ${fmt(Math.max(...full.ms))}`);
  const lat = await benchChangeLatency();
  console.log(`change to report: p50 ${fmt(percentile(lat, 50))}  p95 ${fmt(percentile(lat, 95))}  max ${fmt(Math.max(...lat))}  (n=${lat.length})`);
  const idle = await benchIdleCpu(idleSeconds);
  console.log(`first ${idle.settleSeconds} s after start: ${idle.settleCpuMs.toFixed(1)} ms CPU; idle ${idleSeconds} s with watchers after that: ${idle.cpuMs.toFixed(1)} ms CPU (${idle.cpuPercent.toFixed(3)} %), ${idle.watchedDirs} folders watched, ${idle.inotifyWatches} inotify watches`);
}
