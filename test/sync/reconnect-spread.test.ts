// 200 agents (real SyncClients with real stores, real websocket connections to one local server)
// reconnecting after a gateway restart spread their reconnects over the jitter window instead of
// arriving at once. Bounds: with full jitter the first delay is uniform over [0.1 s, 1 s], so a
// 100 ms bucket expects ~1/9 of the fleet (22 of 200, sd ~4.4); the test allows 25 % (50), more
// than six standard deviations above the mean. Without jitter all 200 would share one bucket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_BACKOFF } from '../../agent/src/sync/index.ts';
import { makeAgent, type AgentHarness } from './agent-harness.ts';
import { makePolicy, ProtocolTestServer, waitFor } from './protocol-test-server.ts';

const TOKEN = 'fleet-token-0123456789abcdef';
const FLEET = 200;

function histogram(times: number[], bucketMs: number): number[] {
  const buckets = new Map<number, number>();
  for (const t of times) buckets.set(Math.floor(t / bucketMs), (buckets.get(Math.floor(t / bucketMs)) ?? 0) + 1);
  return [...buckets.values()];
}

describe('fleet reconnect after a gateway restart', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'heimdall-fleet-'));
  let server: ProtocolTestServer;
  const agents: AgentHarness[] = [];

  beforeAll(async () => {
    server = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(1) });
    await server.start();
    for (let i = 0; i < FLEET; i++) {
      agents.push(
        makeAgent({
          controlUrl: server.url,
          token: TOKEN,
          dir: path.join(root, `agent-${i}`),
          // The product's backoff (1 s base, 60 s cap, 100 ms floor).
          client: { backoff: DEFAULT_BACKOFF, stableAfterMs: 100 },
        }),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await server.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('spreads 200 reconnects over the jitter window', async () => {
    for (const a of agents) a.client.start();
    await waitFor(() => agents.every((a) => a.client.status().state === 'connected'), 'whole fleet connected', 30_000);
    await new Promise((r) => setTimeout(r, 200)); // past stableAfterMs: every backoff is reset

    // The delay each client chose, as it scheduled its first retry.
    const chosen = new Map<number, number>();
    agents.forEach((a, i) =>
      a.client.onStateChange((s) => {
        if (s.state === 'backoff' && s.next_retry_at && !chosen.has(i)) chosen.set(i, Date.parse(s.next_retry_at) - Date.now());
      }),
    );

    const port = server.port;
    const dropAt = Date.now();
    await server.shutdown(1001, 'restarting');
    const restarted = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(1), port });
    await restarted.start();
    try {
      await waitFor(() => new Set(restarted.connections.filter((c) => c.hello).map((c) => c.hello!.device_id)).size === FLEET, 'whole fleet back', 30_000);

      // Client side: the scheduled delays are spread over [floor, 1 s].
      const delays = [...chosen.values()];
      expect(delays).toHaveLength(FLEET);
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...delays)).toBeLessThanOrEqual(DEFAULT_BACKOFF.baseMs + 5);
      expect(Math.max(...histogram(delays, 100))).toBeLessThanOrEqual(FLEET * 0.25);

      // Server side: the first hello of each device, measured where a storm would hurt.
      const firstHello = new Map<string, number>();
      for (const c of restarted.connections) {
        if (c.hello && !firstHello.has(c.hello.device_id)) firstHello.set(c.hello.device_id, c.openedAt - dropAt);
      }
      const arrivals = [...firstHello.values()].sort((a, b) => a - b);
      expect(arrivals).toHaveLength(FLEET);
      // Looser than the client-side bound: arrivals also carry event-loop and handshake delays.
      expect(Math.max(...histogram(arrivals, 100))).toBeLessThanOrEqual(FLEET * 0.35);
      const p10 = arrivals[Math.floor(FLEET * 0.1)]!;
      const p90 = arrivals[Math.floor(FLEET * 0.9)]!;
      expect(p90 - p10).toBeGreaterThanOrEqual(400);
    } finally {
      await restarted.kill();
    }
  }, 90_000);
});
