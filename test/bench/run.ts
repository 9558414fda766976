// The benchmark runner (`npm run bench`): runs every benchmark module once, bounded in count and
// time (the whole run stays under ~10 minutes on 2 cores, loopback only), prints each result next
// to its issue's target with PASS or MISS, and writes the results into docs/performance.md.
//
//   node test/bench/run.ts                  every module
//   node test/bench/run.ts proxy gateway    only these (their sections of the doc are replaced,
//                                           the others are left as they were)
//   node test/bench/run.ts --no-write ...   print only
//
// Every number is compared with a baseline measured in the same run (calling the upstream directly,
// a bare Node process, a cached certificate, ...), so a slower or busier machine shifts both sides.
// Targets are the issues' "Benchmark" sections; a MISS is reported as a MISS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The soft open-file limit of this process (Linux /proc), or 1024 when it cannot be read. */
function openFileLimit(): number {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft) || 1024;
  } catch {
    return 1024;
  }
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOC = path.join(ROOT, 'docs/performance.md');

interface Check {
  /** What is measured, as people read it. */
  what: string;
  target: string;
  measured: string;
  pass: boolean;
}

interface ModuleReport {
  /** Result lines as printed (percentiles, ratios against the module's baseline). */
  lines: string[];
  checks: Check[];
  notes: string[];
}

interface BenchModule {
  name: string;
  title: string;
  issue: number;
  /** Generous upper bound on the module's run time; past it the module is reported as timed out. */
  limitSeconds: number;
  run(): Promise<ModuleReport>;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const ms = (v: number, digits = 3): string => `${v.toFixed(digits)} ms`;
const check = (what: string, target: string, measured: string, pass: boolean): Check => ({ what, target, measured, pass });

const MODULES: BenchModule[] = [
  {
    name: 'shipped',
    title: 'The daemon as it ships (bundle run by node, signed in: identification, policy, audit, sync), 1 to 512 concurrent apps, vs direct and mitmdump',
    issue: 22,
    // ~6 minutes at load < 2; mitmdump's 5,000 idle connections are most of it.
    limitSeconds: 600,
    async run() {
      const { auditShare, benchShipped, formatShipped, perConnKiB } = await import('./shipped.ts');
      type Level = Awaited<ReturnType<typeof benchShipped>>['levels']['heimdall'][number];
      const r = await benchShipped();
      const at = (rows: { concurrency: number }[] | undefined, c: number) => rows?.find((l) => l.concurrency === c) as Level | undefined;
      const h = r.levels.heimdall;
      const s = r.sequential;
      const addedP50 = s.heimdall.p50Ms - s.direct.p50Ms;
      const addedP99 = s.heimdall.p99Ms - s.direct.p99Ms;
      const h32 = at(h, 32);
      const h512 = at(h, 512);
      const m32 = at(r.levels.mitmdump, 32);
      const d512 = at(r.levels.direct, 512);
      const flat = h.filter((l) => l.concurrency >= 8);
      const minCpu = Math.min(...flat.map((l) => l.cpuPerRequestUs));
      const maxCpu = Math.max(...flat.map((l) => l.cpuPerRequestUs));
      // A pool growing to a new peak of concurrent requests opens a connection once; what the target
      // is about is a connection opened per some number of requests, i.e. one replacing a closed one.
      const worstConns = Math.max(...h.map((l) => l.replacedUpstreamConnections / l.requests));
      const worstLevel = h.find((l) => l.replacedUpstreamConnections / l.requests === worstConns)!;
      const big = Math.max(...r.idle.heimdall.withMb.keys());
      const perConn = perConnKiB(r.idle.heimdall, big);
      const floorPerConn = perConnKiB(r.idle.nodeTls, big);
      const back = r.idle.heimdall.afterCloseMb === undefined ? NaN : r.idle.heimdall.afterCloseMb / r.idle.heimdall.beforeMb;
      const launcherAdds = Math.max(r.launcher.execTrueMs - r.launcher.trueMs, r.launcher.envMs - r.launcher.trueMs);
      const firstAdds = r.firstRequest.heimdallMs - r.firstRequest.directMs;
      const checks: Check[] = [
        check('added latency at c=1, p50 (heimdall - direct)', '<= 0.25 ms', ms(addedP50), addedP50 <= 0.25),
        check('added latency at c=1, p99 (heimdall - direct)', '<= 1 ms', ms(addedP99), addedP99 <= 1),
      ];
      if (h32 && m32) checks.push(check('req/s at c=32 vs mitmdump', '>= 10x', `${(h32.reqPerSec / m32.reqPerSec).toFixed(2)}x`, h32.reqPerSec / m32.reqPerSec >= 10));
      checks.push(
        check('CPU per request from c=8 to c=512, highest / lowest', '<= 1.3x', `${(maxCpu / minCpu).toFixed(2)}x (${minCpu.toFixed(0)}-${maxCpu.toFixed(0)} µs)`, maxCpu / minCpu <= 1.3),
        check('gateway connections replaced (one closed, another opened) per request while timed, worst level', '0 (at most 1 per 1,000 requests)', `${worstLevel.replacedUpstreamConnections} in ${worstLevel.requests} at c=${worstLevel.concurrency} (${worstLevel.newUpstreamConnections} new: the pool growing to a new peak)`, worstConns <= 0.001),
      );
      if (h32 && h512) checks.push(check('req/s at c=512 vs at c=32', '>= 90%', `${((h512.reqPerSec / h32.reqPerSec) * 100).toFixed(0)}%`, h512.reqPerSec / h32.reqPerSec >= 0.9));
      if (h512 && d512) checks.push(check('p99 at c=512 vs direct\'s p99 at c=512', '<= 5x', `${(h512.p99Ms / d512.p99Ms).toFixed(2)}x (${ms(h512.p99Ms, 1)} vs ${ms(d512.p99Ms, 1)})`, h512.p99Ms / d512.p99Ms <= 5));
      if (r.audit) checks.push(check('audit pipeline share of the daemon\'s main-thread CPU at c=32', '<= 10%', `${(auditShare(r.audit) * 100).toFixed(1)}%`, auditShare(r.audit) <= 0.1));
      checks.push(
        check(`RSS per idle keep-alive client connection (${big.toLocaleString('en')} open)`, '<= 20 KiB', `${perConn.toFixed(1)} KiB (a bare Node TLS server, same layering and leaf: ${floorPerConn.toFixed(1)} KiB)`, perConn <= 20),
        check(`RSS ${r.afterCloseSeconds} s after the ${big.toLocaleString('en')} connections closed vs before they opened`, 'within 10%', `${r.idle.heimdall.afterCloseMb?.toFixed(1) ?? 'n/a'} vs ${r.idle.heimdall.beforeMb.toFixed(1)} MiB (${((back - 1) * 100).toFixed(0)}%)`, back <= 1.1),
        check('bundle idle RSS 5 s after start', '<= 80 MiB', `${r.bundleStartMb.toFixed(1)} MiB`, r.bundleStartMb <= 80),
        check('`heimdall exec -- true` / `heimdall env`: time added, the larger', '<= 1.5x a bare `node -e 0`', `${launcherAdds.toFixed(1)} ms vs ${r.launcher.bareNodeMs.toFixed(1)} ms (${(launcherAdds / r.launcher.bareNodeMs).toFixed(2)}x)`, launcherAdds <= 1.5 * r.launcher.bareNodeMs),
        check('first request of a fresh process through the proxy, added (median)', '<= 3 ms', ms(firstAdds), firstAdds <= 3),
      );
      return {
        lines: formatShipped(r),
        checks,
        notes: [
          'The daemon is dist/heimdall.mjs (scripts/bundle.ts) run by node, signed in with a virtual key from a reference gateway (its sync channel up) and forwarding to a local HTTPS upstream in its own process that stands in for the organization\'s gateway; every request is identified, decided, audited (outbox, sync) and forwarded. mitmdump forwards to the same upstream. The proxy module below is the decomposition: the proxy component alone.',
          'Each level: the connections open, half a second and at least 8 requests per connection untimed at that concurrency (a pool that grows with demand reaches its size), then closed loops for 2 s. CPU is /proc utime+stime of the process in the middle (all its threads) over the timed window; for direct it is the upstream\'s own. gw conns: TLS connections the upstream accepted while timed / of those, the ones that replaced a connection closed while timed (new minus the growth of the open count); the target counts the replaced ones, as a pool that reaches a new peak of concurrent requests opens a connection once.',
          'Audit share: a CPU profile of the running bundle over the inspector (SIGUSR1; started with --inspect-port=0) during 2 s at c=32, read through the bundle\'s source map; a sample counts as audit when any frame on its stack is in daemon/audit.ts, policy/audit.ts, policy/seen-apps.ts, sync/outbox.ts, sync/outbox-recent.ts, sync/event-check.ts, sync/outbox-sender.ts, store/ or protocol/. Main thread only.',
          'Idle connections: each has done one request through CONNECT and TLS, then stays open; RSS before is the daemon after its 5,000-request warm-up. node-tls is Node\'s own floor for the same connections: test/bench/tls-floor-child.ts, an HTTP server taking CONNECT, a server TLSSocket with an RSA-2048 leaf (the daemon\'s kind) and an HTTP server inside, nothing of Heimdall, after the same warm-up. The launcher and first-request rows are medians of 10 alternating whole-process runs (one warm-up each).',
        ],
      };
    },
  },
  {
    name: 'executable',
    title: 'Single-file executable: size, cold start, idle RSS (vs the bundle run by node)',
    issue: 16,
    limitSeconds: 420,
    async run() {
      const { benchExecutable, formatExecutable } = await import('./executable.ts');
      // 60 s idle as in the daemon module: V8's memory reducer shrinks an idle heap after ~30 s, and
      // reading both daemons while only one of them has been shrunk compares timing, not memory.
      const r = await benchExecutable({ starts: 5, idleSeconds: 60 });
      const p50 = (v: number[]): number => percentile(v, 50);
      const startRatio = p50(r.coldStartMs.exe) / p50(r.coldStartMs.bundle);
      return {
        lines: formatExecutable(r).split('\n'),
        checks: [
          // The executable is the same Node running the same agent: it must not cost more than the
          // bundle it replaces. Its start reads the blob from its own file instead of a module.
          check('cold start to proxy listening, executable / bundle by node (median)', '<= 1.25x', `${startRatio.toFixed(2)}x`, startRatio <= 1.25),
          check(`idle RSS after ${r.idleSeconds} s, executable - bundle by node`, '<= 10 MiB', `${(r.idleRssMb.exe - r.idleRssMb.bundle).toFixed(1)} MiB`, r.idleRssMb.exe - r.idleRssMb.bundle <= 10),
          check(`idle anonymous memory (V8 heap, malloc) after ${r.idleSeconds} s, executable - bundle by node`, '<= 2 MiB', `${(r.idleAnonymousMb.exe - r.idleAnonymousMb.bundle).toFixed(1)} MiB`, r.idleAnonymousMb.exe - r.idleAnonymousMb.bundle <= 2),
        ],
        notes: [
          'Both daemons point at a gateway URL nothing answers at (interception on, sync backing off), share one config and start on an initialised state folder; the executable is built from the same sources in the same run.',
          'The size is almost all Node: the official linux-x64 binary on the npm registry is not stripped of its symbols.',
          "Both binaries are dropped from the page cache before the idle run (dd iflag=nocache). The +14 MiB measured before was not the executable's: the build had just written all 121 MiB of it, so every page was cached, and the kernel's fault-around maps up to 16 cached neighbours of each page touched; those clean file pages count in RSS. By mapping (smaps, same Node 22.23.2, 60 s idle, file just written): text 36.9 vs 27.3 MiB, read-only data 27.9 vs 21.6 MiB (2.1 MiB of it the SEA blob's ELF note), anonymous equal; after evicting the file: executable 74.3 MiB, bundle 78.2 MiB. Neither the embedded addon nor the blob is kept in anonymous memory; the CommonJS bundle run by node (no SEA) was 51 MiB of file pages like the ESM one.",
        ],
      };
    },
  },
  {
    name: 'sqlite',
    title: 'SQLite engines for the executables: better-sqlite3 vs node:sqlite',
    issue: 16,
    limitSeconds: 120,
    async run() {
      const { benchSqliteEngines, formatSqliteEngines } = await import('./sqlite-engines.ts');
      const r = await benchSqliteEngines(5000);
      return {
        lines: formatSqliteEngines(r).split('\n'),
        checks: [],
        notes: ['Each engine in a fresh Node process: 5,000 single-row transactions (the outbox pattern) and 5,000 rows batched 100 to a transaction, WAL with synchronous=NORMAL; the better of two alternated runs. The decision is in docs/architecture.md ("SQLite in the executables").'],
      };
    },
  },
  {
    name: 'daemon',
    title: 'Daemon memory (the real `heimdall run` process)',
    issue: 3,
    limitSeconds: 180,
    async run() {
      const { benchDaemonMemory, formatDaemonMemory } = await import('./daemon.ts');
      const r = await benchDaemonMemory({ idleSeconds: 60, openStreams: 500 });
      const ratio = (v: number | undefined): string => (v === undefined ? 'n/a' : `${(v / r.bareNode.idleMb).toFixed(2)}x`);
      const withSi = (mib: number): string => `${mib.toFixed(1)} MiB (${((mib * 2 ** 20) / 1e6).toFixed(1)} MB)`;
      return {
        lines: [
          ...formatDaemonMemory(r).split('\n'),
          `ratio to bare node after ${r.idleSeconds} s idle: source ${ratio(r.source.idleMb)}, bundle ${ratio(r.bundle.idleMb)}`,
        ],
        checks: [
          check(`idle RSS, bundle (as shipped), after ${r.idleSeconds} s`, '<= 80 MB (as MiB)', withSi(r.bundle.idleMb), r.bundle.idleMb <= 80),
          check('idle RSS, bundle, 5 s after start', '<= 80 MB (as MiB)', withSi(r.bundle.startMb), r.bundle.startMb <= 80),
          check(`idle RSS, from source, after ${r.idleSeconds} s`, '<= 80 MB (as MiB)', withSi(r.source.idleMb), r.source.idleMb <= 80),
        ],
        notes: [
          ...r.notes,
          "The issue's 80 MB is read as 80 MiB, the unit ps, top and the service managers report; read as 80,000,000 bytes (76.3 MiB) the bundle's idle figure misses it.",
        ],
      };
    },
  },
  {
    name: 'proxy',
    title: 'Proxy: added latency, throughput, streaming (vs direct and mitmproxy)',
    issue: 3,
    limitSeconds: 240,
    async run() {
      const { benchProxy, formatProxyBench, mitmdumpAvailable } = await import('./proxy.ts');
      const notes: string[] = [];
      if (!mitmdumpAvailable()) notes.push('mitmdump is not installed (Debian package `mitmproxy`): the mitmproxy comparison was skipped');
      const r = await benchProxy({ latencySamples: 2000, warmupRequests: 5000, throughputSeconds: 3, concurrency: 32, openStreams: 500, sseSamples: 50, pacedStreams: 10 });
      const checks = [
        check('added latency p50 (heimdall - direct)', '<= 0.3 ms', ms(r.added.p50Ms), r.added.p50Ms <= 0.3),
        check('added latency p99 (heimdall - direct)', '<= 2 ms', ms(r.added.p99Ms), r.added.p99Ms <= 2),
        check(`longest a stream chunk was held back (arrival after its direct twin, ${r.heimdall.chunkHold.chunks} chunks)`, '<= 1 ms', ms(r.heimdall.chunkHold.added.maxMs), r.heimdall.chunkHold.added.maxMs <= 1),
      ];
      if (r.ratios.throughputVsMitmdump !== undefined) {
        checks.splice(2, 0, check('req/s at 32 concurrent vs mitmdump', '>= 5x', `${r.ratios.throughputVsMitmdump.toFixed(2)}x`, r.ratios.throughputVsMitmdump >= 5));
      }
      notes.push('Each path serves 5,000 requests before its latency is timed, and 100 streams of 100 chunks before its chunks are, so the proxy is measured as a running daemon is, after V8 has compiled its hot code (after 2,000 requests it was still compiling dozens of functions while being timed).');
      notes.push(`Chunk hold: the upstream writes each chunk of a paced stream (20 ms apart) to a stream through the proxy and to a direct twin in the same turn, and the client times both arrivals; a chunk is held back by as much as it arrives after its twin. From write to read, the direct path's longest was ${ms(r.direct.chunkHold.maxMs)} and Heimdall's ${ms(r.heimdall.chunkHold.maxMs)}.`);
      notes.push('RSS here is the proxy alone in a child process (test/bench/proxy-child.ts); the daemon module measures the whole daemon.');
      return { lines: formatProxyBench(r).split('\n'), checks, notes };
    },
  },
  {
    name: 'tls',
    title: 'Leaf certificate mint, cold vs cached',
    issue: 3,
    limitSeconds: 60,
    async run() {
      const { benchLeafMint } = await import('./tls-mint.ts');
      const { coldMs, cachedMs } = await benchLeafMint({ coldSamples: 50, cachedSamples: 5000 });
      return {
        lines: [
          `cold (new host: CSR, sign, SecureContext): p50 ${ms(percentile(coldMs, 50))}  p99 ${ms(percentile(coldMs, 99))}  (n=${coldMs.length})`,
          `cached (known host):                       p50 ${ms(percentile(cachedMs, 50), 4)}  p99 ${ms(percentile(cachedMs, 99), 4)}  (n=${cachedMs.length})`,
          `cold / cached at p50: ${(percentile(coldMs, 50) / percentile(cachedMs, 50)).toFixed(0)}x`,
        ],
        checks: [],
        notes: ['No target in the issue; routing-table hosts are minted at start, so only hosts outside it pay the cold cost, once.'],
      };
    },
  },
  {
    name: 'identify',
    title: 'Process identification per new connection (Linux, 500 processes)',
    issue: 5,
    limitSeconds: 150,
    async run() {
      const { benchIdentify } = await import('./identify.ts');
      const r = await benchIdentify({ sleepers: 500, filesPerSleeper: 8, knownClientConnections: 1000, newClientConnections: 200 });
      const line = (name: string, v: number[]): string => `${name} p50 ${ms(percentile(v, 50))}  p99 ${ms(percentile(v, 99))}  max ${ms(Math.max(...v))}  (n=${v.length})`;
      const knownP99 = percentile(r.knownProcessMs, 99);
      const newP99 = percentile(r.newProcessMs, 99);
      return {
        lines: [
          `${r.processesRunning} extra processes running`,
          line('lookup, process seen before:', r.knownProcessMs),
          line('lookup, process never seen: ', r.newProcessMs),
          line('  + resolveApp (app identity):', r.newWithAppMs),
          line('resolveApp after a lookup:  ', r.resolveAppMs),
          `never seen / seen before at p50: ${(percentile(r.newProcessMs, 50) / percentile(r.knownProcessMs, 50)).toFixed(2)}x`,
        ],
        checks: [
          check('per new connection, process seen before, p99', '<= 2 ms', ms(knownP99), knownP99 <= 2),
          check('per new connection, process never seen, p99', '<= 2 ms', ms(newP99), newP99 <= 2),
        ],
        notes: [
          (await import('../../agent/src/identify/index.ts')).loadSockDiag()
            ? 'Client socket found with NETLINK_SOCK_DIAG (agent/native/sockdiag, built by npm ci): one hash lookup, not the /proc/net/tcp walk of the whole TCP hash.'
            : 'sock_diag addon NOT built (no C compiler at npm ci?): client sockets found in /proc/net/tcp, ~4.5 ms per read on this machine.',
          'A reused (kept-alive) connection costs nothing: identification runs once per client connection, in admitConnection.',
          'Seen before: 999 connections from one process (300 until 6 Dec: a p99 of 299 lookups is their third slowest, and moved by 1 ms between runs minutes apart).',
        ],
      };
    },
  },
  {
    name: 'launcher',
    title: '`heimdall exec` and `heimdall env`: what they add to a command (the bundle, a running daemon)',
    issue: 22,
    limitSeconds: 120,
    async run() {
      const { benchLauncher } = await import('./launcher.ts');
      const r = await benchLauncher(30);
      const p50 = (v: number[]): number => percentile(v, 50);
      const bare = p50(r.bareNodeMs);
      const execAdds = p50(r.execTrueMs) - p50(r.trueMs);
      const envMs = p50(r.envMs);
      // Paired: each run's ratio to the `node -e 0` run beside it, so a drift of the machine cancels.
      const ratios = (v: number[]): number[] => v.map((t, i) => t / r.bareNodeMs[i]!);
      const execRatio = p50(r.execTrueMs.map((t, i) => (t - r.trueMs[i]!) / r.bareNodeMs[i]!));
      const envRatio = p50(ratios(r.envMs));
      return {
        lines: [
          `median of ${r.runs} alternating runs: true ${ms(p50(r.trueMs), 1)}, node -e 0 ${ms(bare, 1)}, heimdall exec -- true ${ms(p50(r.execTrueMs), 1)} (adds ${ms(execAdds, 1)}), heimdall env ${ms(envMs, 1)}`,
          `per pair, against the node -e 0 run beside it (median): exec adds ${execRatio.toFixed(2)}x, env ${envRatio.toFixed(2)}x`,
        ],
        checks: [
          check('heimdall exec adds, against node -e 0 (paired median)', '<= 1.5x', `${execRatio.toFixed(2)}x`, execRatio <= 1.5),
          check('heimdall env, against node -e 0 (paired median)', '<= 1.5x', `${envRatio.toFixed(2)}x`, envRatio <= 1.5),
        ],
        notes: [
          'exec and env load only the launcher chunk of the bundle (agent/src/cli/launch.ts: one local API request, the proxy environment, no commander) and exec then execve()s the command: no second process, signals and exit status are the command\'s own.',
          'The single-file executables (installer/src/executables, CommonJS, no chunks) still compile the whole bundle: only its evaluation is lazy there; not measured here.',
        ],
      };
    },
  },
  {
    name: 'localapi',
    title: 'Local API: identifying the caller per request (SO_PEERCRED against the old `ss -xp` path)',
    issue: 14,
    limitSeconds: 120,
    async run() {
      const { benchLocalApi } = await import('./localapi.ts');
      const r = await benchLocalApi({ requests: 300 });
      const line = (name: string, v: number[], perSecond: number): string =>
        `${name} p50 ${ms(percentile(v, 50), 3)}  p99 ${ms(percentile(v, 99), 3)}  ${Math.round(perSecond)} requests/s  (n=${v.length}, sequential)`;
      const peer50 = percentile(r.peercredMs, 50);
      const ss50 = percentile(r.ssMs, 50);
      return {
        lines: [
          line('SO_PEERCRED (the daemon):', r.peercredMs, r.peercredPerSecond),
          line('ss -xpnH (removed):      ', r.ssMs, r.ssPerSecond),
          `ss / SO_PEERCRED at p50: ${(ss50 / peer50).toFixed(1)}x`,
        ],
        checks: [check('local API request with caller identity, p50', 'faster than the `ss -xp` path it replaced', `${ms(peer50, 3)} against ${ms(ss50, 3)}`, peer50 < ss50)],
        notes: [
          r.addonLoaded
            ? 'Whole requests over the real unix socket (connect, HTTP, identify, answer). The old path ran `ss -xpnH` (which walks every process\'s file descriptors) per request.'
            : 'The peer-credential addon is NOT built: the SO_PEERCRED side could not identify anyone and this module fails.',
        ],
      };
    },
  },
  {
    name: 'sso-refresh',
    title: 'SSO: requests in flight across a user token refresh',
    issue: 18,
    limitSeconds: 120,
    async run() {
      const { benchSsoRefresh } = await import('./sso-refresh.ts');
      const r = await benchSsoRefresh({ requests: 3000, refreshMs: 200 });
      const steady99 = percentile(r.steadyMs, 99);
      const refreshing99 = percentile(r.refreshingMs, 99);
      const worst = Math.max(...r.refreshingMs);
      return {
        lines: [
          `no refresh:          p50 ${ms(percentile(r.steadyMs, 50), 3)}  p99 ${ms(steady99, 3)}  (n=${r.steadyMs.length}, sequential, loopback HTTP)`,
          `refresh in flight:   p50 ${ms(percentile(r.refreshingMs, 50), 3)}  p99 ${ms(refreshing99, 3)}  max ${ms(worst, 3)}  (${r.refreshes} refreshes of ${r.refreshMs} ms each during the phase)`,
          `p99 added by refreshing: ${ms(refreshing99 - steady99, 3)}`,
        ],
        checks: [check('p99 added latency of requests across a token refresh', `under 1 ms, and no request waits for a refresh (< ${r.refreshMs} ms)`, `${ms(refreshing99 - steady99, 3)} (max ${ms(worst, 3)})`, refreshing99 - steady99 < 1 && worst < r.refreshMs)],
        notes: ['Each request takes its user token as the proxy does (UserSessions.current) and makes a real loopback HTTP exchange with it; the refresh stands in for the gateway\'s token endpoint with a fixed 200 ms answer, so a request that waited for it would show at least that.'],
      };
    },
  },
  {
    name: 'gateway',
    title: 'Reference gateway: memory per agent, policy propagation, event ingestion',
    issue: 4,
    limitSeconds: 240,
    async run() {
      const { benchGatewayMemory, benchPolicyPropagation, benchEventIngest, formatGatewayBench } = await import('./gateway.ts');
      // 10,000 real websocket connections (the gateway runs in its own process) when this process's open-file
      // limit allows; otherwise 2,000 and a linear extrapolation, said so in the result.
      const clients = openFileLimit() >= 10_500 ? 10_000 : 2_000;
      const memory = await benchGatewayMemory({ clients });
      const propagation = await benchPolicyPropagation({ agents: 1000, changes: 20 });
      const ingest = await benchEventIngest();
      return {
        lines: [
          ...formatGatewayBench({ memory, propagation, ingest }).trimEnd().split('\n'),
          `memory after ${memory.clients} agents / before any: ${(memory.rssAfterMiB / memory.rssBeforeMiB).toFixed(2)}x`,
        ],
        checks: [
          check(
            memory.clients >= 10_000 ? '10,000 connected agents (measured)' : `10,000 agents (linear extrapolation from ${memory.clients})`,
            '<= 1 GB RSS',
            `${(memory.clients >= 10_000 ? memory.rssAfterMiB : memory.extrapolated10kMiB).toFixed(0)} MiB`,
            (memory.clients >= 10_000 ? memory.rssAfterMiB : memory.extrapolated10kMiB) <= 1024,
          ),
          check('policy change reaches 99% of 1,000 agents', 'within 1 s', `p99 ${ms(propagation.p99Ms, 1)} (${(propagation.within1s * 100).toFixed(2)}% within 1 s)`, propagation.within1s >= 0.99),
          check('events ingested', '>= 20,000/s', `${Math.round(ingest.eventsPerSecond)}/s`, ingest.eventsPerSecond >= 20_000),
        ],
        notes: [
          memory.clients >= 10_000
            ? 'RSS of the gateway process with 10,000 agents connected at once over real websockets on loopback.'
            : `The 10,000-agent figure is extrapolated from ${memory.clients} measured connections (the open-file limit was too low for 10,000).`,
        ],
      };
    },
  },
  {
    name: 'gateway-inference',
    title: 'Reference gateway: CPU per governed inference request, and requests per second at c=32',
    issue: 22,
    limitSeconds: 120,
    async run() {
      const { benchGatewayInference, formatGatewayInference } = await import('./gateway-inference.ts');
      const r = await benchGatewayInference({ concurrency: 32, seconds: 5 });
      const cpu = r.gateway.cpuPerRequestUs;
      return {
        lines: [
          ...formatGatewayInference(r),
          `gateway CPU per request / the DEMO upstream's own (an HTTP server answering the same request): ${(cpu / r.direct.cpuPerRequestUs).toFixed(2)}x`,
        ],
        checks: [
          check('gateway CPU per governed request (virtual key + device token, audit event) at c=32', '<= 150 µs', `${Math.round(cpu)} µs`, cpu <= 150),
          check('gateway requests per second at c=32', '>= 5,000', `${Math.round(r.gateway.reqPerSec)}`, r.gateway.reqPerSec >= 5000),
        ],
        notes: [
          'The gateway is its own process (`heimdall-gateway run`, from source) in front of the DEMO upstream in a third process; CPU is read from /proc for the gateway process alone. Bifrost claims ~11 µs of overhead per request in Go; a Node gateway is an HTTP server and an HTTP client per request, and the DEMO upstream line shows what one Node HTTP server alone costs for the same request on this machine.',
        ],
      };
    },
  },
  {
    name: 'gateway-replicas',
    title: 'Two gateway replicas on one PostgreSQL: policy across replicas, events on PostgreSQL vs SQLite, 10,000 agents',
    issue: 21,
    // ~2 minutes at load < 2: enrolling 10,000 devices (a key pair and two requests each) is most of it.
    limitSeconds: 420,
    async run() {
      const { benchReplicas, formatReplicasBench } = await import('./gateway-replicas.ts');
      // 10,000 sockets held by this process need the open-file limit; below it the fleet is smaller, said so.
      const fleetAgents = openFileLimit() >= 10_500 ? 10_000 : 2_000;
      const r = await benchReplicas({ fleetAgents });
      const { propagation: p, ingest: e, fleet: f } = r;
      const maxRss = Math.max(f.rssMiB.a[1], f.rssMiB.b[1]);
      return {
        lines: formatReplicasBench(r),
        checks: [
          check('policy change on replica A reaches 1,000 agents split across A and B, p99', '<= 1 s', `${ms(p.all.p99Ms, 1)} (agents on B: ${ms(p.remote.p99Ms, 1)})`, p.all.p99Ms <= 1_000),
          check('events ingested on PostgreSQL (durable commits)', '>= 20,000/s (the gateway target, issue 4)', `${Math.round(e.postgres.eventsPerSecond)}/s (SQLite ${Math.round(e.sqlite.eventsPerSecond)}/s)`, e.postgres.eventsPerSecond >= 20_000),
          check(`${f.agents} agents across two replicas: each replica's RSS`, '<= 1 GB', `${maxRss.toFixed(0)} MiB (larger of the two)`, maxRss <= 1024),
          check(`one change reaches 99% of ${f.agents} agents across two replicas`, 'within 1 s', `p99 ${ms(f.propagation.p99Ms, 1)} (${(f.propagation.within1s * 100).toFixed(2)}% within 1 s)`, f.propagation.within1s >= 0.99),
        ],
        notes: [
          'PostgreSQL 15 from Debian, started by the run as an unprivileged user with fsync, synchronous commit and full-page writes on (the tests turn them off for speed); both replicas and the database share this machine\'s two cores, so the figures are a floor for a real deployment where they do not.',
          'Agents on replica B hear of a change made on A through LISTEN/NOTIFY on the database, then B\'s own push: the "agents on B" line is the cross-replica path.',
          ...(f.agents < 10_000 ? [`The fleet line used ${f.agents} agents: this process's open-file limit was too low for 10,000.`] : []),
        ],
      };
    },
  },
  {
    name: 'console',
    title: 'Admin console: server time per page with 10,000 devices and 100,000 events',
    issue: 20,
    limitSeconds: 180,
    async run() {
      const { benchConsole, formatConsoleBench } = await import('./console.ts');
      const r = await benchConsole();
      const worst = r.pages.reduce((a, b) => (b.p95Ms > a.p95Ms ? b : a));
      return {
        lines: formatConsoleBench(r),
        checks: [check(`slowest page's server time p95 (${worst.page})`, '<= 100 ms', ms(worst.p95Ms, 1), r.pages.every((p) => p.p95Ms <= 100))],
        notes: [
          'Server time is the gateway\'s own Server-Timing (request in to page rendered) for a signed-in session, each page requested in turn on loopback; the store is seeded through its own methods (2,000 apps and 1,000 MCP servers sighted on 1,000 devices, events over the last 14 days from 100 outboxes).',
        ],
      };
    },
  },
  {
    name: 'mcp',
    title: 'MCP inventory on a home with 1,000 project folders',
    issue: 6,
    limitSeconds: 240,
    async run() {
      const { benchFullInventory, benchChangeLatency, benchIdleCpu } = await import('./mcp.ts');
      const full = await benchFullInventory(1000, 5);
      const latency = await benchChangeLatency(20, 1000);
      const idle = await benchIdleCpu(60, 1000);
      const fullP50 = percentile(full.ms, 50);
      const latP95 = percentile(latency, 95);
      return {
        lines: [
          `full inventory, ${full.servers} servers: p50 ${ms(fullP50, 1)}  max ${ms(Math.max(...full.ms), 1)}  (n=${full.ms.length})`,
          `change to report: p50 ${ms(percentile(latency, 50), 1)}  p95 ${ms(latP95, 1)}  max ${ms(Math.max(...latency), 1)}  (n=${latency.length}; includes the 150 ms debounce)`,
          `first ${idle.settleSeconds} s after start (the first scan's garbage collected): ${idle.settleCpuMs.toFixed(1)} ms CPU`,
          `idle 60 s with watchers on after that (a process of its own): ${idle.cpuMs.toFixed(1)} ms CPU (${idle.cpuPercent.toFixed(3)} % of one core), ${idle.watchedDirs} folders watched, ${idle.inotifyWatches} inotify watches`,
        ],
        checks: [
          check('full inventory', '< 2 s', ms(fullP50, 1), Math.max(...full.ms) < 2000),
          check('change reported, p95', '< 1 s', ms(latP95, 1), latP95 < 1000),
          // The issue says "should be ~0"; 0.1 % of a core is the line drawn here for "~0".
          check('idle CPU with watchers (no polling)', '~0 (read here as < 0.1 % of a core)', `${idle.cpuPercent.toFixed(3)} %`, idle.cpuPercent < 0.1),
        ],
        notes: ['Idle CPU is the whole of a process holding only the MCP room with its watches (watchers, timers, GC), over 60 s from 40 s after start() returned (V8 compacts the first scan\'s heap once, ~30 s after it); the benchmark runner\'s own process would add the garbage of the modules before it.'],
      };
    },
  },
  {
    name: 'userfs',
    title: 'MCP scan of 1,000 projects read through the per-user helper (vs in-process reads)',
    issue: 14,
    limitSeconds: 120,
    async run() {
      const { benchUserFsScan } = await import('./userfs.ts');
      const r = await benchUserFsScan(5);
      const inP50 = percentile(r.inProcessMs, 50);
      const helperP50 = percentile(r.helperMs, 50);
      const ratio = helperP50 / inP50;
      return {
        lines: [
          `in-process reads, ${r.servers} servers: p50 ${ms(inP50, 1)}  max ${ms(Math.max(...r.inProcessMs), 1)}  (n=${r.inProcessMs.length})`,
          `through one helper process: p50 ${ms(helperP50, 1)}  max ${ms(Math.max(...r.helperMs), 1)}  (n=${r.helperMs.length}); first scan with the helper's start ${ms(r.helperColdMs, 1)}`,
          `ratio helper / in-process (p50): ${ratio.toFixed(2)}x`,
        ],
        checks: [
          // Absolute scan time is the mcp module's target; this one prices the helper against the same scan.
          check('scan through the helper vs in-process (p50)', '< 3x', `${ratio.toFixed(2)}x`, ratio < 3),
        ],
        notes: ['The benchmark runs as one user, so the helper is forced for that user\'s own home (alwaysHelper); as root the daemon starts one helper per other user and reuses it across the scan.'],
      };
    },
  },
];

// ---- machine facts -------------------------------------------------------------------------

interface Facts {
  date: string;
  cpus: string;
  memory: string;
  node: string;
  os: string;
  loadStart: string;
  loadEnd?: string;
}

const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

function machineFacts(): Facts {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    loadStart: load(),
  };
}

// ---- output --------------------------------------------------------------------------------

interface Outcome {
  module: BenchModule;
  report?: ModuleReport;
  error?: string;
  seconds: number;
  facts: Facts;
}

function renderSection(o: Outcome): string {
  const { module: m, facts: f } = o;
  const out = [`### ${m.title} (issue ${m.issue})`, ''];
  out.push(`Measured ${f.date} in ${o.seconds.toFixed(0)} s; load average ${f.loadStart} at start, ${f.loadEnd ?? '?'} at end (1, 5, 15 min).`, '');
  if (o.error !== undefined) {
    out.push(`**Not measured:** ${o.error}`, '');
    return out.join('\n');
  }
  const r = o.report!;
  out.push('```', ...r.lines, '```', '');
  if (r.checks.length > 0) {
    out.push('| Target | Measured | Result |', '|---|---|---|');
    for (const c of r.checks) out.push(`| ${c.what}: ${c.target} | ${c.measured} | ${c.pass ? 'PASS' : '**MISS**'} |`);
    out.push('');
  }
  for (const n of r.notes) out.push(`- ${n}`);
  if (r.notes.length > 0) out.push('');
  return out.join('\n');
}

function renderFacts(f: Facts, modules: string[]): string {
  return [
    `Last run: ${f.date}, modules: ${modules.join(', ')}.`,
    '',
    `- CPU: ${f.cpus}`,
    `- Memory: ${f.memory}`,
    `- Node: ${f.node}`,
    `- OS: ${f.os}`,
    `- Load average (1, 5, 15 min): ${f.loadStart} at start, ${f.loadEnd ?? '?'} at end`,
    '',
  ].join('\n');
}

const SKELETON = `# Performance

How fast and how large Heimdall is, measured by \`npm run bench\` (test/bench/run.ts). The results
below are written by that command; the text around them is not.

<!-- bench:facts -->
<!-- /bench:facts -->

## Results

<!-- bench:results -->
<!-- /bench:results -->
`;

/** Replaces the block between `<!-- bench:NAME -->` and its end marker, or adds it before `<!-- /bench:results -->`. */
function replaceBlock(doc: string, name: string, body: string): string {
  const open = `<!-- bench:${name} -->`;
  const close = `<!-- /bench:${name} -->`;
  const start = doc.indexOf(open);
  const end = doc.indexOf(close);
  const block = `${open}\n${body.trimEnd()}\n${close}`;
  if (start >= 0 && end > start) return doc.slice(0, start) + block + doc.slice(end + close.length);
  const anchor = doc.indexOf('<!-- /bench:results -->');
  if (anchor < 0) return `${doc.trimEnd()}\n\n${block}\n`;
  return `${doc.slice(0, anchor)}${block}\n\n${doc.slice(anchor)}`;
}

function writeDoc(outcomes: Outcome[], facts: Facts): void {
  let doc = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : SKELETON;
  doc = replaceBlock(doc, 'facts', renderFacts(facts, outcomes.map((o) => o.module.name)));
  for (const o of outcomes) doc = replaceBlock(doc, o.module.name, renderSection(o));
  fs.writeFileSync(DOC, doc);
}

function printOutcome(o: Outcome): void {
  console.log(`\n== ${o.module.title} (issue ${o.module.issue}) — ${o.seconds.toFixed(0)} s, load ${o.facts.loadStart} -> ${o.facts.loadEnd ?? '?'}`);
  if (o.error !== undefined) {
    console.log(`NOT MEASURED: ${o.error}`);
    return;
  }
  for (const l of o.report!.lines) console.log(`  ${l}`);
  for (const c of o.report!.checks) console.log(`  ${c.pass ? 'PASS' : 'MISS'}  ${c.what}: ${c.measured} (target ${c.target})`);
  for (const n of o.report!.notes) console.log(`  note: ${n}`);
}

async function withLimit<T>(promise: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const write = !args.includes('--no-write');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !MODULES.some((m) => m.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark module(s): ${unknown.join(', ')}; known: ${MODULES.map((m) => m.name).join(', ')}`);
    process.exit(2);
  }
  const selected = names.length > 0 ? MODULES.filter((m) => names.includes(m.name)) : MODULES;
  const facts = machineFacts();
  console.log(`heimdall benchmarks: ${selected.map((m) => m.name).join(', ')}`);
  console.log(`${facts.cpus}, ${facts.memory}, node ${facts.node}, load average ${facts.loadStart}`);

  const outcomes: Outcome[] = [];
  let timedOut = false;
  for (const m of selected) {
    const moduleFacts: Facts = { ...facts, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), loadStart: load() };
    const started = performance.now();
    const outcome: Outcome = { module: m, seconds: 0, facts: moduleFacts };
    try {
      outcome.report = await withLimit(m.run(), m.limitSeconds);
    } catch (err) {
      outcome.error = (err as Error).message;
      if (outcome.error.startsWith('did not finish')) timedOut = true;
    }
    outcome.seconds = (performance.now() - started) / 1000;
    moduleFacts.loadEnd = load();
    outcomes.push(outcome);
    printOutcome(outcome);
  }
  facts.loadEnd = load();
  const checks = outcomes.flatMap((o) => o.report?.checks ?? []);
  const missed = checks.filter((c) => !c.pass).length;
  console.log(`\n${checks.length - missed} of ${checks.length} targets met; load average at end ${facts.loadEnd}`);
  if (write) {
    writeDoc(outcomes, facts);
    console.log(`wrote ${path.relative(process.cwd(), DOC)}`);
  }
  // A module that timed out may still hold sockets or children: end the run rather than wait on them.
  if (timedOut) process.exit(1);
}

await main();
