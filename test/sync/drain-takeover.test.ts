// A gateway replica drained on SIGTERM hands its agents to the next one (issue 21, points 3 and 5):
// four real SyncClients (real stores and outboxes) reach a real `heimdall-gateway run` process through
// a TCP forwarder standing in for the load balancer; SIGTERM closes each with 4503; each agent picks
// its reconnect delay within the window the gateway stated (settings.drain_reconnect_s), from its own
// injected random source on a shared ManualClock, so the delays are exact and the test never times
// anything; a second gateway on the same data dir takes every agent, and every outbox event (acked
// before, queued during the drain) is stored exactly once.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { CLOSE_CODES } from '../../protocol/index.ts';
import { enrollChild, startGatewayChild, type GatewayChild } from '../gateway/process.ts';
import { advanceUntil, auditEvent, HARNESS_BACKOFF, makeAgent, type AgentHarness } from './agent-harness.ts';
import { waitFor } from './protocol-test-server.ts';
import { tcpBalancer } from './tcp-balancer.ts';

const AGENTS = 4;
const RECONNECT_WINDOW_S = 20;
// The gateway's drain spreads its closes over 1 s of its own (real) time; the test only waits for them.
const CONFIG = { drain: { window_s: 1, reconnect_window_s: RECONNECT_WINDOW_S } };

describe('draining a gateway replica hands its agents to the next one', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'heimdall-drain-'));
  const dataDir = path.join(root, 'gateway');
  const clock = new ManualClock(Date.now());
  const lb = tcpBalancer();
  const agents: AgentHarness[] = [];
  let a: GatewayChild | undefined;
  let b: GatewayChild | undefined;

  afterAll(async () => {
    await Promise.all(agents.map((x) => x.close()));
    await a?.stop();
    await b?.stop();
    await lb.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('closes every agent with 4503; they reconnect after distinct delays within the stated window, to the second replica, losing no event', async () => {
    mkdirSync(dataDir, { mode: 0o700 });
    a = await startGatewayChild({ dataDir, config: CONFIG });
    lb.backend.port = Number(new URL(a.url).port);
    const lbUrl = `http://127.0.0.1:${await lb.port}`;
    // Each agent's random source returns one value, a different one per agent, so its drain delay is
    // exactly floor + r * (window - floor): distinct, inside the window, and not the harness backoff.
    const rs = Array.from({ length: AGENTS }, (_, i) => (i + 0.5) / AGENTS);
    for (let i = 0; i < AGENTS; i++) {
      const agent = makeAgent({ controlUrl: lbUrl, dir: path.join(root, `agent-${i}`), clock, client: { rng: () => rs[i]! } });
      const token = await enrollChild(a, agent.credentials.deviceId(), `drain-${i}@example.com`);
      agent.credentials.saveEnrollment({ deviceToken: token, controlUrl: lbUrl, osUser: 'alice', virtualKey: 'sk-bf-test-key-0000', userId: `user-${i}`, email: `drain-${i}@example.com` });
      agents.push(agent);
    }
    for (const agent of agents) agent.client.start();
    await waitFor(() => agents.every((x) => x.client.status().state === 'connected'), 'every agent connected to replica A', 30_000);

    // Ten events each, stored by A; five more queued just before the drain (sent or not: both must arrive once).
    agents.forEach((x) => {
      for (let i = 0; i < 10; i++) x.outbox.enqueue(auditEvent(i));
    });
    await advanceUntil(clock, () => agents.every((x) => x.outbox.depth().rows === 0), 'first events acknowledged by A');
    agents.forEach((x) => {
      for (let i = 10; i < 15; i++) x.outbox.enqueue(auditEvent(i));
    });

    const chosen = new Map<number, number>();
    agents.forEach((x, i) =>
      x.client.onStateChange((s) => {
        if (s.state === 'backoff' && s.next_retry_at && !chosen.has(i)) chosen.set(i, Date.parse(s.next_retry_at) - clock.now());
      }),
    );
    const exited = new Promise<number | null>((resolve) => a!.child.once('exit', (code) => resolve(code)));
    a.child.kill('SIGTERM');
    // The clock stands still: nobody can reconnect before every agent was closed and chose its delay.
    await waitFor(() => chosen.size === AGENTS, 'every agent closed by the drain and waiting', 30_000);
    for (const x of agents) expect(x.client.status().last_error).toContain(`code ${CLOSE_CODES.draining.code}`);
    expect(await exited).toBe(0);
    expect(a.output()).toContain(`"closed":${AGENTS},"cut":0`);

    // The delays: distinct, inside [floor, window], and exactly the drain formula (not the backoff's).
    const windowMs = RECONNECT_WINDOW_S * 1000;
    const delays = agents.map((_, i) => chosen.get(i)!);
    expect(new Set(delays).size).toBe(AGENTS);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(HARNESS_BACKOFF.floorMs);
      expect(d).toBeLessThanOrEqual(windowMs);
      expect(d).toBe(Math.round(HARNESS_BACKOFF.floorMs + rs[i]! * (windowMs - HARNESS_BACKOFF.floorMs)));
    });

    // Events keep arriving while the agents wait; the outbox keeps them.
    agents.forEach((x) => {
      for (let i = 15; i < 20; i++) x.outbox.enqueue(auditEvent(i));
    });

    // Replica B on the same data dir (SQLite: one replica at a time); the balancer now sends there.
    b = await startGatewayChild({ dataDir, config: CONFIG });
    lb.backend.port = Number(new URL(b.url).port);

    // Time moves to each agent's due time in turn: that agent reconnects, the later ones still wait.
    const order = delays.map((d, i) => ({ d, i })).sort((x, y) => x.d - y.d);
    const start = clock.now();
    for (const [k, { d, i }] of order.entries()) {
      clock.advance(start + d - clock.now() - 1);
      for (const later of order.slice(k)) expect(agents[later.i]!.client.status().state).toBe('backoff');
      clock.advance(1);
      await waitFor(() => agents[i]!.client.status().state === 'connected', `agent ${i} connected to replica B`, 30_000);
    }

    await advanceUntil(clock, () => agents.every((x) => x.outbox.depth().rows === 0), 'every outbox drained into B');
    for (const x of agents) {
      const r = await b.admin('GET', `events?device=${x.credentials.deviceId()}&type=request&limit=1000`);
      const stored = r.body.events as { seq: number; attrs: { i: number } }[];
      expect(stored).toHaveLength(20);
      expect(new Set(stored.map((e) => e.seq)).size).toBe(20);
      expect(new Set(stored.map((e) => e.attrs.i))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i)));
    }
  });
});
