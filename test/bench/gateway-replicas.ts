// Benchmarks of the gateway past one machine (issue 21): two `heimdall-gateway run` processes on one
// real PostgreSQL 15 database (durable: fsync and synchronous commit on, as production runs it),
// sharing the admin token as docs/operations.md has replicas do.
//   - policy to 1,000 agents across two replicas: half the agents on each, the change made on one;
//     the latency from the admin request to each agent's new snapshot, split by whether the agent sits
//     on the replica that made the change or on the other (LISTEN/NOTIFY, then that replica's push);
//   - events ingested per second, one gateway on PostgreSQL against one on SQLite in the same run;
//   - 10,000 agents across two replicas: every one connected at once, each replica's RSS, and one
//     policy change reaching all of them.
// Run alone with `node test/bench/gateway-replicas.ts`; the bench runner calls benchReplicas.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import {
  admin,
  benchEventIngest,
  closeAll,
  connectAll,
  enrollDevices,
  rssBytes,
  startGatewayProcess,
  type Agent,
  type EventIngestResult,
  type GatewayProcess,
} from './gateway.ts';

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

export interface Latencies {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Share of deliveries within 1 s. */
  within1s: number;
  n: number;
}

function summarize(values: number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
    within1s: sorted.filter((v) => v <= 1_000).length / Math.max(1, sorted.length),
    n: sorted.length,
  };
}

/** How long one change may take to reach every agent before the run is reported as failed. */
const DELIVERY_DEADLINE_MS = 30_000;

interface Replicas {
  a: GatewayProcess;
  b: GatewayProcess;
  stop(): Promise<void>;
}

async function startReplicas(storeUrl: string): Promise<Replicas> {
  const config = { store_url: storeUrl };
  const a = await startGatewayProcess({ config });
  try {
    const b = await startGatewayProcess({ config, adminToken: a.adminToken });
    return { a, b, stop: async () => void (await Promise.all([a.stop(), b.stop()])) };
  } catch (err) {
    await a.stop();
    throw err;
  }
}

/**
 * Makes `changes` policy changes on `via`, alternating an app's decision, and times each agent's
 * receipt of the new snapshot (only the receive time is taken: parsing would add the client's cost).
 * Returns the latencies of each group of agents.
 */
async function timePolicyChanges(via: GatewayProcess, groups: Record<string, Agent[]>, changes: number): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(groups).map((g) => [g, []]));
  const total = Object.values(groups).reduce((n, g) => n + g.length, 0);
  for (let c = 0; c < changes; c++) {
    let received = 0;
    let t0 = 0;
    const all = new Promise<void>((resolve) => {
      for (const [name, agents] of Object.entries(groups)) {
        for (const agent of agents) {
          agent.onText = (text) => {
            if (!text.startsWith('{"type":"policy"')) return;
            out[name]!.push(performance.now() - t0);
            agent.onText = undefined;
            if (++received === total) resolve();
          };
        }
      }
    });
    t0 = performance.now();
    await admin(via, 'POST', 'apps/opencode/decision', { status: c % 2 === 0 ? 'denied' : 'approved' });
    // A change that never arrives is a failure to report, not a run that hangs.
    let deadline: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => {
        const missing = Object.entries(out).map(([name, got]) => `${name} ${groups[name]!.length - (got.length - c * groups[name]!.length)}`);
        reject(new Error(`policy change ${c + 1} did not reach every agent within ${DELIVERY_DEADLINE_MS / 1000} s (missing: ${missing.join(', ')})`));
      }, DELIVERY_DEADLINE_MS);
    });
    try {
      await Promise.race([all, late]);
    } finally {
      clearTimeout(deadline);
    }
    await sleep(50);
  }
  return out;
}

export interface ReplicaPropagationResult {
  agents: number;
  changes: number;
  /** Agents on the replica that made the change. */
  local: Latencies;
  /** Agents on the other replica: the change reached them through the database. */
  remote: Latencies;
  all: Latencies;
}

export async function benchReplicaPropagation(pg: TestPostgres, options: { agents?: number; changes?: number } = {}): Promise<ReplicaPropagationResult> {
  const n = options.agents ?? 1_000;
  const changes = options.changes ?? 20;
  const replicas = await startReplicas(await pg.createDatabase('bench_propagation'));
  try {
    const { a, b } = replicas;
    const tokens = await enrollDevices(a, n, 'prop');
    const half = Math.floor(n / 2);
    const onA = await connectAll(a, tokens.slice(0, half), 'prop');
    const onB = await connectAll(b, tokens.slice(half), 'prop', 50, half);
    const latencies = await timePolicyChanges(a, { local: onA, remote: onB }, changes);
    await closeAll([...onA, ...onB]);
    return { agents: n, changes, local: summarize(latencies['local']!), remote: summarize(latencies['remote']!), all: summarize([...latencies['local']!, ...latencies['remote']!]) };
  } finally {
    await replicas.stop();
  }
}

export interface IngestComparison {
  sqlite: EventIngestResult;
  postgres: EventIngestResult;
}

export async function benchIngestComparison(pg: TestPostgres): Promise<IngestComparison> {
  const sqlite = await benchEventIngest();
  const postgres = await benchEventIngest({ gateway: { config: { store_url: await pg.createDatabase('bench_ingest') } } });
  return { sqlite, postgres };
}

export interface FleetResult {
  agents: number;
  /** RSS of each replica before any agent and with its half connected. */
  rssMiB: { a: [number, number]; b: [number, number] };
  /** One policy change made on replica A reaching all of them. */
  propagation: Latencies;
}

export async function benchFleetAcrossReplicas(pg: TestPostgres, options: { agents?: number } = {}): Promise<FleetResult> {
  const n = options.agents ?? 10_000;
  const replicas = await startReplicas(await pg.createDatabase('bench_fleet'));
  try {
    const { a, b } = replicas;
    const half = Math.floor(n / 2);
    // Each replica enrolls half: enrollment is part of what replicas share.
    const tokens = [...(await enrollDevices(a, half, 'fleet')), ...(await enrollDevices(b, n - half, 'fleetb'))];
    await sleep(1_000);
    const before = { a: rssBytes(a.pid), b: rssBytes(b.pid) };
    const onA = await connectAll(a, tokens.slice(0, half), 'fleet');
    const onB = await connectAll(b, tokens.slice(half), 'fleetb');
    await sleep(2_000);
    const after = { a: rssBytes(a.pid), b: rssBytes(b.pid) };
    const latencies = await timePolicyChanges(a, { a: onA, b: onB }, 1);
    await closeAll([...onA, ...onB]);
    const mib = (v: number) => v / 2 ** 20;
    return {
      agents: n,
      rssMiB: { a: [mib(before.a), mib(after.a)], b: [mib(before.b), mib(after.b)] },
      propagation: summarize([...latencies['a']!, ...latencies['b']!]),
    };
  } finally {
    await replicas.stop();
  }
}

export interface ReplicasBenchResult {
  propagation: ReplicaPropagationResult;
  ingest: IngestComparison;
  fleet: FleetResult;
}

export async function benchReplicas(options: { fleetAgents?: number } = {}): Promise<ReplicasBenchResult> {
  const pg = await startTestPostgres(undefined, { durable: true });
  try {
    const propagation = await benchReplicaPropagation(pg);
    const ingest = await benchIngestComparison(pg);
    const fleet = await benchFleetAcrossReplicas(pg, { agents: options.fleetAgents ?? 10_000 });
    return { propagation, ingest, fleet };
  } finally {
    await pg.stop();
  }
}

const fmt = (l: Latencies): string => `p50 ${l.p50Ms.toFixed(1)} ms  p99 ${l.p99Ms.toFixed(1)} ms  max ${l.maxMs.toFixed(1)} ms  (${(l.within1s * 100).toFixed(2)}% within 1 s, n=${l.n})`;

export function formatReplicasBench(r: ReplicasBenchResult): string[] {
  const { propagation: p, ingest: e, fleet: f } = r;
  return [
    `policy to ${p.agents} agents across two replicas, ${p.changes} changes made on replica A:`,
    `  agents on A (same replica):  ${fmt(p.local)}`,
    `  agents on B (via NOTIFY):    ${fmt(p.remote)}`,
    `  all:                         ${fmt(p.all)}`,
    `events ingested: SQLite ${Math.round(e.sqlite.eventsPerSecond)}/s, PostgreSQL ${Math.round(e.postgres.eventsPerSecond)}/s ` +
      `(${(e.postgres.eventsPerSecond / e.sqlite.eventsPerSecond).toFixed(2)}x; ${e.postgres.events} events from ${e.postgres.agents} agents each)`,
    `${f.agents} agents across two replicas: RSS A ${f.rssMiB.a[0].toFixed(0)} -> ${f.rssMiB.a[1].toFixed(0)} MiB, B ${f.rssMiB.b[0].toFixed(0)} -> ${f.rssMiB.b[1].toFixed(0)} MiB; ` +
      `one change on A to all: ${fmt(f.propagation)}`,
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const agents = process.argv[2] ? Number(process.argv[2]) : undefined;
  process.stdout.write(`${formatReplicasBench(await benchReplicas(agents ? { fleetAgents: agents } : {})).join('\n')}\n`);
}
