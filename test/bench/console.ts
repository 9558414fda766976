// The admin console's server time per page (issue 20: p95 <= 100 ms with 10,000 devices and 100,000
// events). A gateway runs in this process on a temporary data dir seeded through its own store (10,000
// enrolled devices, 100,000 agent and gateway events over two weeks, 2,000 apps and 1,000 MCP servers
// with sightings); a signed-in session requests each page in turn and the gateway's own
// `Server-Timing` (request in to page rendered) is read. Bounded: a fixed number of requests per page.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../lib/index.ts';
import { startGateway } from '../../gateway/src/server.ts';
import { SqliteGatewayStore } from '../../gateway/src/store/index.ts';

export interface ConsolePageTiming {
  page: string;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  bytes: number;
}

export interface ConsoleBench {
  devices: number;
  events: number;
  apps: number;
  mcpServers: number;
  requestsPerPage: number;
  pages: ConsolePageTiming[];
  seedSeconds: number;
}

const APPS = ['claude-code', 'codex-cli', 'gemini-cli', 'cursor', 'curl', 'aider', 'goose', 'copilot', 'windsurf', 'zed'];
const OSES = ['linux', 'darwin', 'windows'];

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Fills the store the way a fleet would: enrollments, inventories, outbox events. */
async function seed(dataDir: string, counts: { devices: number; events: number; apps: number; mcpServers: number }): Promise<void> {
  const store = new SqliteGatewayStore({ dataDir, logger: silentLogger() });
  const now = Date.now();
  const users = 500;
  const keys: { userId: string; keyId: string }[] = [];
  for (let u = 0; u < users; u++) {
    const user = await store.ensureUser(`user${u}@example.com`);
    const key = await store.createVirtualKey({ id: `vk_${u}`, userId: user.id, keyHash: `hash-${u}`, prefix: `sk-bf-${u}`, name: null });
    keys.push({ userId: user.id, keyId: key.id });
  }
  store.db.transaction(() => {
    for (let d = 0; d < counts.devices; d++) {
      const k = keys[d % users]!;
      void store.enrollDevice({
        deviceId: `dev-${String(d).padStart(5, '0')}`,
        facts: { hostname: `host-${(d * 7919) % counts.devices}`, os: OSES[d % 3]!, osVersion: '1.0', arch: 'x64', agentVersion: '0.1.0' },
        publicKey: `pk-${d}`,
        osUser: 'alice',
        userId: k.userId,
        keyId: k.keyId,
      });
    }
  })();
  const iso = (ms: number) => new Date(ms).toISOString();
  // Catalog: each device reports a few of the apps and MCP servers (sightings give the fleet counts).
  for (let d = 0; d < counts.devices; d += 10) {
    const id = `dev-${String(d).padStart(5, '0')}`;
    const apps = Array.from({ length: 20 }, (_, i) => ({ kind: 'app' as const, id: `exe:${((d + i * 97) % counts.apps).toString(16).padStart(16, '0')}`, displayName: `tool-${(d + i * 97) % counts.apps}` }));
    const mcp = Array.from({ length: 10 }, (_, i) => ({ kind: 'mcp' as const, id: `sha256:${((d + i * 31) % counts.mcpServers).toString(16).padStart(64, '0')}`, displayName: `server-${(d + i * 31) % counts.mcpServers}`, app: 'claude-code', transport: 'stdio' }));
    await store.recordSightings(id, [...apps, ...mcp], iso(now), 'inventory');
  }
  // Events: 100 devices' outboxes, spread over the last 14 days, mostly allowed requests, some blocks.
  const perDevice = Math.ceil(counts.events / 100);
  for (let d = 0; d < 100; d++) {
    const id = `dev-${String(d).padStart(5, '0')}`;
    for (let start = 0; start < perDevice; start += 1000) {
      const batch = Array.from({ length: Math.min(1000, perDevice - start) }, (_, i) => {
        const seq = start + i + 1;
        return {
          seq,
          type: seq % 10 === 0 ? 'block' : 'request',
          at: iso(now - ((seq * 104729 + d * 7) % (14 * 86_400_000))),
          app: APPS[(seq + d) % APPS.length]!,
          os_user: 'alice',
          attrs: { host: 'api.openai.com', route: 'openai-api', decision: seq % 10 === 0 ? 'block' : 'allow', status_code: 200 },
        };
      });
      await store.ingestEvents(id, 'stream-1', batch, iso(now));
    }
  }
  await store.close();
}

export async function benchConsole(options: { devices?: number; events?: number; apps?: number; mcpServers?: number; requestsPerPage?: number } = {}): Promise<ConsoleBench> {
  const counts = { devices: options.devices ?? 10_000, events: options.events ?? 100_000, apps: options.apps ?? 2_000, mcpServers: options.mcpServers ?? 1_000 };
  const requestsPerPage = options.requestsPerPage ?? 40;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-console-'));
  const seedStart = performance.now();
  await seed(dataDir, counts);
  const seedSeconds = (performance.now() - seedStart) / 1000;
  const gw = await startGateway({ dataDir, host: '127.0.0.1', port: 0, logger: silentLogger() });
  try {
    const { readFileSync } = await import('node:fs');
    const token = readFileSync(gw.adminTokenFile, 'utf8').trim();
    const signIn = await fetch(`${gw.url}/console/sign-in`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    if (!cookie) throw new Error(`console sign-in failed: ${signIn.status}`);
    const middle = Math.floor(counts.events / 2);
    const pages = [
      '/console/',
      '/console/apps',
      '/console/apps?status=pending&q=tool-19',
      '/console/mcp-servers',
      '/console/devices',
      '/console/devices?q=host-99',
      '/console/devices?os=darwin&after_host=host-5000&after_id=dev-00000',
      '/console/settings',
      '/console/keys',
      '/console/events',
      `/console/events?before=${middle}`,
      '/console/events?type=block',
      '/console/events?app=aider&before=1000',
      '/console/events?device=dev-00042',
    ];
    const results: ConsolePageTiming[] = [];
    for (const page of pages) {
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < requestsPerPage; i++) {
        const res = await fetch(`${gw.url}${page}`, { headers: { cookie } });
        const body = await res.text();
        if (res.status !== 200) throw new Error(`${page}: ${res.status} ${body.slice(0, 200)}`);
        bytes = body.length;
        times.push(Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1]));
      }
      results.push({ page, p50Ms: percentile(times, 50), p95Ms: percentile(times, 95), maxMs: Math.max(...times), bytes });
    }
    return { ...counts, requestsPerPage, pages: results, seedSeconds };
  } finally {
    await gw.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function formatConsoleBench(r: ConsoleBench): string[] {
  return [
    `seeded ${r.devices} devices, ${r.events} events, ${r.apps} apps, ${r.mcpServers} MCP servers in ${r.seedSeconds.toFixed(1)} s; ${r.requestsPerPage} requests per page`,
    ...r.pages.map((p) => `${p.page.padEnd(64)} p50 ${p.p50Ms.toFixed(1)} ms  p95 ${p.p95Ms.toFixed(1)} ms  max ${p.maxMs.toFixed(1)} ms  ${Math.round(p.bytes / 1024)} KiB`),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchConsole();
  console.log(formatConsoleBench(r).join('\n'));
}
