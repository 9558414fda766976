// 200 agents (real SyncClients with real stores, real websocket connections to one local server)
// reconnecting after a gateway restart spread their reconnects over the jitter window instead of
// arriving at once. The fleet shares one ManualClock and each agent has its own seeded random
// source, so the spread is measured in the clock's time, exactly, and is the same on every run.
// Bounds: with full jitter the first delay is uniform over [0.1 s, 1 s], so a 100 ms bucket expects
// ~1/9 of the fleet (22 of 200, sd ~4.4); the test allows 25 % (50). Without jitter all 200 would
// share one bucket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { DEFAULT_BACKOFF } from '../../agent/src/sync/index.ts';
import { advanceUntil, makeAgent, seededRng, type AgentHarness } from './agent-harness.ts';
import { makePolicy, ProtocolTestServer, waitFor } from './protocol-test-server.ts';

const TOKEN = 'fleet-token-0123456789abcdef';
const FLEET = 200;
const BUCKET_MS = 100;

function histogram(times: number[], bucketMs: number): number[] {
  const buckets = new Map<number, number>();
  for (const t of times) buckets.set(Math.floor(t / bucketMs), (buckets.get(Math.floor(t / bucketMs)) ?? 0) + 1);
  return [...buckets.values()];
}

describe('fleet reconnect after a gateway restart', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'heimdall-fleet-'));
  const clock = new ManualClock(Date.now());
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
          clock,
          // The product's backoff (1 s base, 60 s cap, 100 ms floor).
          client: { backoff: DEFAULT_BACKOFF, stableAfterMs: 100, rng: seededRng(1000 + i) },
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
    clock.advance(100); // past stableAfterMs: every backoff is reset

    // The delay each client chose as it scheduled its first retry, and when its retry started.
    const chosen = new Map<number, number>();
    const retried = new Map<number, number>();
    agents.forEach((a, i) =>
      a.client.onStateChange((s) => {
        if (s.state === 'backoff' && s.next_retry_at && !chosen.has(i)) chosen.set(i, Date.parse(s.next_retry_at) - clock.now());
        if (s.state === 'connecting' && chosen.has(i) && !retried.has(i)) retried.set(i, clock.now());
      }),
    );

    const port = server.port;
    await server.shutdown(1001, 'restarting');
    // The clock stands still until every agent has seen its connection close and chosen a delay.
    await waitFor(() => chosen.size === FLEET, 'every agent backing off', 30_000);
    const droppedAt = clock.now();
    const restarted = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(1), port });
    await restarted.start();
    try {
      await advanceUntil(clock, () => retried.size === FLEET, 'every agent retried', BUCKET_MS / 10);
      await advanceUntil(clock, () => new Set(restarted.connections.filter((c) => c.hello).map((c) => c.hello!.device_id)).size === FLEET, 'whole fleet back');

      // The scheduled delays are spread over [floor, 1 s].
      const delays = [...chosen.values()];
      expect(Math.min(...delays)).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.floorMs);
      expect(Math.max(...delays)).toBeLessThanOrEqual(DEFAULT_BACKOFF.baseMs);
      expect(Math.max(...histogram(delays, BUCKET_MS))).toBeLessThanOrEqual(FLEET * 0.25);

      // Each retry started when its delay was due, so the attempts reach the gateway spread the same way.
      const attempts = [...retried.values()].map((t) => t - droppedAt);
      expect(Math.max(...histogram(attempts, BUCKET_MS))).toBeLessThanOrEqual(FLEET * 0.25);
      const sorted = [...attempts].sort((a, b) => a - b);
      expect(sorted[Math.floor(FLEET * 0.9)]! - sorted[Math.floor(FLEET * 0.1)]!).toBeGreaterThanOrEqual(400);
    } finally {
      await restarted.kill();
    }
  }, 90_000);
});
