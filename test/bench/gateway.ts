// Benchmarks of the reference gateway, run as its own process (`heimdall-gateway run`) so its memory
// is measured alone: memory per connected agent, policy propagation to 1,000 agents (p50/p99), events
// ingested per second. Clients speak the protocol directly from this process.
// Run alone with `node test/bench/gateway.ts`; the bench runner calls the bench* functions.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { generateKeyPairSync, sign } from 'node:crypto';
import { CHALLENGE_PATH, CONNECT_PATH, ENROLL_PATH, SUBPROTOCOL, deviceProofText } from '../../protocol/index.ts';

const BIN = fileURLToPath(new URL('../../bin/heimdall-gateway.js', import.meta.url));

export interface GatewayProcess {
  url: string;
  wsUrl: string;
  pid: number;
  adminToken: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface GatewayProcessOptions {
  /** More config keys beside the raised limits (e.g. an `inference` section). */
  config?: Record<string, unknown>;
  /** More environment for the process (the provider keys an `inference` section names). */
  env?: NodeJS.ProcessEnv;
  /** Node flags, e.g. `--cpu-prof` to profile the gateway under load. */
  nodeFlags?: readonly string[];
  /**
   * The admin token to start with (written to the data dir's 0600 file before the start), so that
   * replicas on one database share it as docs/operations.md has them do; a fresh one when absent.
   */
  adminToken?: string;
}

export async function startGatewayProcess(options: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-gw-'));
  // Every simulated agent comes from 127.0.0.1: the per-client caps (docs/gateway.md "Limits") would
  // measure themselves, not the gateway. Raised like the device budgets below.
  const config = path.join(dir, 'bench-gateway.json');
  writeFileSync(config, JSON.stringify({ limits: BENCH_LIMITS, ...options.config }));
  if (options.adminToken) writeFileSync(path.join(dir, 'admin-token'), `${options.adminToken}\n`, { mode: 0o600 });
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), BIN, 'run', '--data-dir', dir, '--listen', '127.0.0.1:0', '--log-level', 'error', '--config', config], {
    stdio: ['ignore', 'ignore', 'ignore'],
    env: { ...process.env, ...options.env },
  });
  const runtime = path.join(dir, 'gateway-runtime.json');
  for (let i = 0; !existsSync(runtime); i++) {
    if (i > 300 || child.exitCode !== null) throw new Error('the gateway did not start');
    await sleep(50);
  }
  const { url } = JSON.parse(readFileSync(runtime, 'utf8')) as { url: string };
  const gw: GatewayProcess = {
    url,
    wsUrl: url.replace(/^http/, 'ws') + CONNECT_PATH,
    pid: child.pid!,
    adminToken: readFileSync(path.join(dir, 'admin-token'), 'utf8').trim(),
    child,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // The device budgets (docs/gateway.md) protect a real fleet from one device; a benchmark that
  // plays thousands of agents from a few sockets measures the gateway, not the budgets: raise them.
  await admin(gw, 'PATCH', 'budgets', BENCH_BUDGETS);
  return gw;
}

export const BENCH_LIMITS = {
  max_connections_per_client: 1_000_000,
  enroll_per_minute: 10_000_000,
  enroll_burst: 10_000_000,
  admin_per_minute: 10_000_000,
  admin_burst: 10_000_000,
  inference_per_minute: 10_000_000,
  inference_burst: 10_000_000,
};

export const BENCH_BUDGETS = {
  inventory_apps: 2048,
  inventory_mcp: 4096,
  catalog_items: 10_000_000,
  events_per_minute: 10_000_000,
  events_burst: 10_000_000,
};

/** Resident memory of a process in bytes (Linux /proc, else `ps`). */
export function rssBytes(pid: number): number {
  const status = `/proc/${pid}/status`;
  if (existsSync(status)) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(status, 'utf8'));
    if (m) return Number(m[1]) * 1024;
  }
  return Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim()) * 1024;
}

export async function admin(gw: GatewayProcess, method: string, p: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${gw.url}/admin/v1/${p}`, {
    method,
    headers: { authorization: `Bearer ${gw.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`admin ${method} ${p}: ${res.status}`);
  return res.json();
}

async function postJson<T>(url: string, body: unknown): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * Enrolls `n` devices under one virtual key, a few at a time, the way the agent does: each makes its
 * own Ed25519 device key and signs a fresh gateway challenge; returns their (challenge-signed) tokens.
 */
export async function enrollDevices(gw: GatewayProcess, n: number, prefix: string, existingKey?: string): Promise<string[]> {
  const key = existingKey ?? ((await admin(gw, 'POST', 'keys', { user_email: `${prefix}@bench.example` })) as { key: string }).key;
  const tokens: string[] = new Array<string>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const deviceId = `${prefix}-${i}`;
      const pair = generateKeyPairSync('ed25519');
      const { challenge } = await postJson<{ challenge: string }>(`${gw.url}${CHALLENGE_PATH}`, {});
      const device_key = {
        public_key: pair.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        challenge,
        signature: sign(null, deviceProofText('enroll', challenge, deviceId), pair.privateKey).toString('base64'),
      };
      const enrolled = await postJson<{ device_token: string }>(`${gw.url}${ENROLL_PATH}`, { virtual_key: key, device: { device_id: deviceId, hostname: `h${i}`, os: 'linux' }, os_user: 'u', device_key });
      tokens[i] = enrolled.device_token;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return tokens;
}

export interface Agent {
  ws: WebSocket;
  onText?: (text: string) => void;
}

/** Connects one agent and resolves after its first policy. */
function connectAgent(gw: GatewayProcess, token: string, deviceId: string): Promise<Agent> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(gw.wsUrl, [SUBPROTOCOL], { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    const agent: Agent = { ws };
    let ready = false;
    ws.once('error', reject);
    ws.once('open', () =>
      ws.send(
        JSON.stringify({ type: 'hello', device_id: deviceId, hostname: 'h', os: 'linux', os_version: '6', arch: 'x64', agent_version: 'bench', users: [], policy_version: null, outbox_stream: 's', outbox_first_seq: null }),
      ),
    );
    ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      if (!ready) {
        if (text.startsWith('{"type":"policy"')) {
          ready = true;
          resolve(agent);
        }
        return;
      }
      agent.onText?.(text);
    });
  });
}

export async function connectAll(gw: GatewayProcess, tokens: string[], prefix: string, concurrency = 50, offset = 0): Promise<Agent[]> {
  const agents: Agent[] = new Array<Agent>(tokens.length);
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const i = next++;
      agents[i] = await connectAgent(gw, tokens[i]!, `${prefix}-${i + offset}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return agents;
}

export async function closeAll(agents: Agent[]): Promise<void> {
  await Promise.all(agents.map((a) => new Promise<void>((resolve) => (a.ws.readyState === WebSocket.CLOSED ? resolve() : (a.ws.once('close', () => resolve()), a.ws.close())))));
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

// ---- memory per connection ----

export interface GatewayMemoryResult {
  clients: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  perConnectionKiB: number;
  /** Cost of the second half of the connections alone (less flattered by heap slack left from start-up). */
  marginalKiB: number;
  /** rssBefore + the larger of the two per-connection costs x 10,000: a linear extrapolation, not a measurement. */
  extrapolated10kMiB: number;
}

export async function benchGatewayMemory(options: { clients?: number } = {}): Promise<GatewayMemoryResult> {
  const clients = options.clients ?? 2_000;
  const gw = await startGatewayProcess();
  try {
    const tokens = await enrollDevices(gw, clients, 'mem');
    await sleep(1_000);
    const before = rssBytes(gw.pid);
    const half = Math.floor(clients / 2);
    const firstHalf = await connectAll(gw, tokens.slice(0, half), 'mem');
    await sleep(2_000);
    const middle = rssBytes(gw.pid);
    const secondHalf = await connectAll(gw, tokens.slice(half), 'mem', 50, half);
    await sleep(2_000);
    const after = rssBytes(gw.pid);
    await closeAll([...firstHalf, ...secondHalf]);
    const per = Math.max((after - before) / clients, (after - middle) / (clients - half));
    return {
      clients,
      rssBeforeMiB: before / 2 ** 20,
      rssAfterMiB: after / 2 ** 20,
      perConnectionKiB: (after - before) / clients / 1024,
      marginalKiB: (after - middle) / (clients - half) / 1024,
      extrapolated10kMiB: (before + per * 10_000) / 2 ** 20,
    };
  } finally {
    await gw.stop();
  }
}

// ---- policy propagation ----

export interface PolicyPropagationResult {
  agents: number;
  changes: number;
  /** From sending the admin request to each agent receiving the new snapshot, all changes pooled. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Share of deliveries within 1 s. */
  within1s: number;
}

export async function benchPolicyPropagation(options: { agents?: number; changes?: number } = {}): Promise<PolicyPropagationResult> {
  const n = options.agents ?? 1_000;
  const changes = options.changes ?? 20;
  const gw = await startGatewayProcess();
  try {
    const tokens = await enrollDevices(gw, n, 'prop');
    const agents = await connectAll(gw, tokens, 'prop');
    const latencies: number[] = [];
    for (let c = 0; c < changes; c++) {
      const status = c % 2 === 0 ? 'denied' : 'approved';
      let received = 0;
      let t0 = 0;
      const all = new Promise<void>((resolve) => {
        for (const a of agents) {
          a.onText = (text) => {
            // Only the receive time is taken here; parsing would add the client's own cost.
            if (!text.startsWith('{"type":"policy"')) return;
            latencies.push(performance.now() - t0);
            a.onText = undefined;
            if (++received === n) resolve();
          };
        }
      });
      t0 = performance.now();
      await admin(gw, 'POST', 'apps/opencode/decision', { status });
      await all;
      await sleep(50);
    }
    await closeAll(agents);
    latencies.sort((a, b) => a - b);
    return {
      agents: n,
      changes,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: latencies[latencies.length - 1]!,
      within1s: latencies.filter((l) => l <= 1_000).length / latencies.length,
    };
  } finally {
    await gw.stop();
  }
}

// ---- event ingestion ----

export interface EventIngestResult {
  agents: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

export async function benchEventIngest(
  options: { agents?: number; batchesPerAgent?: number; batchSize?: number; window?: number; gateway?: GatewayProcessOptions } = {},
): Promise<EventIngestResult> {
  const n = options.agents ?? 10;
  const batches = options.batchesPerAgent ?? 40;
  const size = options.batchSize ?? 512;
  const windowSize = options.window ?? 4;
  const gw = await startGatewayProcess(options.gateway);
  try {
    const tokens = await enrollDevices(gw, n, 'ingest');
    const agents = await connectAll(gw, tokens, 'ingest');
    // Batches are serialised before timing starts: the client's JSON cost is not the gateway's. Events
    // are recent, as a live agent's are (PostgreSQL files them in the current month's partition).
    const now = Date.now();
    const texts = Array.from({ length: batches }, (_, b) => {
      const from = b * size + 1;
      const events = Array.from({ length: size }, (_, k) => ({
        seq: from + k,
        type: 'request',
        at: new Date(now - (k % 60) * 1000).toISOString(),
        app: 'claude-code',
        os_user: 'alice',
        attrs: { host: 'api.anthropic.com', method: 'POST', path: '/v1/messages', status: 200, latency_ms: 812, bytes_up: 2310, bytes_down: 18200, decision: 'allowed' },
      }));
      return JSON.stringify({ type: 'events', seq_from: from, events });
    });
    const start = performance.now();
    await Promise.all(
      agents.map(
        (a) =>
          new Promise<void>((resolve) => {
            let sent = 0;
            let acked = 0;
            const pump = () => {
              while (sent < batches && sent - acked < windowSize) a.ws.send(texts[sent++]!);
            };
            a.onText = (text) => {
              if (!text.startsWith('{"type":"ack"')) return;
              acked++;
              if (acked === batches) resolve();
              else pump();
            };
            pump();
          }),
      ),
    );
    const seconds = (performance.now() - start) / 1000;
    await closeAll(agents);
    const events = n * batches * size;
    return { agents: n, events, seconds, eventsPerSecond: events / seconds };
  } finally {
    await gw.stop();
  }
}

export function formatGatewayBench(r: { memory?: GatewayMemoryResult; propagation?: PolicyPropagationResult; ingest?: EventIngestResult }): string {
  const lines: string[] = [];
  if (r.memory) {
    const m = r.memory;
    lines.push(
      `gateway memory: ${m.clients} agents, RSS ${m.rssBeforeMiB.toFixed(0)} -> ${m.rssAfterMiB.toFixed(0)} MiB, ` +
        `${m.perConnectionKiB.toFixed(1)} KiB per connection (second half alone: ${m.marginalKiB.toFixed(1)} KiB); linear extrapolation to 10,000 agents: ${m.extrapolated10kMiB.toFixed(0)} MiB (target < 1024)`,
    );
  }
  if (r.propagation) {
    const p = r.propagation;
    lines.push(
      `policy propagation: ${p.agents} agents x ${p.changes} changes, p50 ${p.p50Ms.toFixed(1)} ms, p99 ${p.p99Ms.toFixed(1)} ms, max ${p.maxMs.toFixed(1)} ms, ` +
        `${(p.within1s * 100).toFixed(2)}% within 1 s (target 99%)`,
    );
  }
  if (r.ingest) {
    const e = r.ingest;
    lines.push(`event ingestion: ${e.events} events from ${e.agents} agents in ${e.seconds.toFixed(2)} s = ${Math.round(e.eventsPerSecond)} events/s (target 20,000)`);
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const only = process.argv[2];
  const memory = !only || only === 'memory' ? await benchGatewayMemory() : undefined;
  const propagation = !only || only === 'propagation' ? await benchPolicyPropagation() : undefined;
  const ingest = !only || only === 'ingest' ? await benchEventIngest() : undefined;
  process.stdout.write(formatGatewayBench({ ...(memory ? { memory } : {}), ...(propagation ? { propagation } : {}), ...(ingest ? { ingest } : {}) }));
}
