// Two real `heimdall-gateway run` processes (replicas A and B) on one real PostgreSQL 15 database,
// with real SyncClients split across them behind TCP forwarders (the load balancer), issue 21 points
// 2 and 3: a policy change made on A reaches B's agents; a device revoked on A is closed on B; each
// replica's admin API lists the other's agents as connected; a device connecting to A while B holds
// its socket is closed on B (takeover); A killed with SIGKILL: its agents reconnect to B after
// distinct delays from their own backoff (injected random source), every outbox event is stored
// once, and A's rows, never removed, stop counting as connected once their heartbeat is stale (the
// gateway's heartbeat period is 1 s by config; the test waits for that to happen, it never sleeps).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { CLOSE_CODES, SUBPROTOCOL } from '../../protocol/index.ts';
import { enrollChild, startGatewayChild, type GatewayChild } from '../gateway/process.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { advanceUntil, auditEvent, HARNESS_BACKOFF, makeAgent, type AgentHarness } from '../sync/agent-harness.ts';
import { waitFor } from '../sync/protocol-test-server.ts';
import { tcpBalancer } from '../sync/tcp-balancer.ts';

const DB = `replicas_${process.pid}`;

describe('two gateway replicas on one PostgreSQL database', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'heimdall-replicas-'));
  const clock = new ManualClock(Date.now());
  const lbA = tcpBalancer();
  const lbB = tcpBalancer();
  const agents: AgentHarness[] = [];
  const tokens: string[] = [];
  let pg: TestPostgres;
  let a: GatewayChild | undefined;
  let b: GatewayChild | undefined;

  beforeAll(async () => {
    pg = await startTestPostgres();
  });

  afterAll(async () => {
    await Promise.all(agents.map((x) => x.close()));
    await a?.stop();
    await b?.stop();
    await lbA.close();
    await lbB.close();
    await pg?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const connected = async (gw: GatewayChild): Promise<Map<string, boolean>> => {
    const r = await gw.admin('GET', 'devices');
    return new Map((r.body.devices as { id: string; connected: boolean }[]).map((d) => [d.id, d.connected]));
  };
  /** Polls until `predicate` holds for the replica's device list (arrival, never a fixed wait). */
  const untilListed = async (gw: GatewayChild, predicate: (c: Map<string, boolean>) => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!predicate(await connected(gw))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('fans policy, revocations and takeovers out across replicas, and hands a killed replica\'s agents to the other, losing no event', async () => {
    const url = await pg.createDatabase(DB);
    const config = { store_url: url, heartbeat_s: 1 };
    for (const d of ['a', 'b']) mkdirSync(path.join(root, d), { mode: 0o700 });
    a = await startGatewayChild({ dataDir: path.join(root, 'a'), config });
    // Replicas share one admin token (the database keeps its hash: a different one in B's file would replace A's).
    writeFileSync(path.join(root, 'b', 'admin-token'), `${a.adminToken()}\n`, { mode: 0o600 });
    b = await startGatewayChild({ dataDir: path.join(root, 'b'), config });
    lbA.backend.port = Number(new URL(a.url).port);
    lbB.backend.port = Number(new URL(b.url).port);
    const lbUrls = [`http://127.0.0.1:${await lbA.port}`, `http://127.0.0.1:${await lbB.port}`];

    // Agents 0 and 1 reach A, 2 and 3 reach B; all enroll on A (one database: B knows them too).
    const rs = [0.1, 0.7, 0.3, 0.9];
    for (let i = 0; i < 4; i++) {
      const lb = lbUrls[i < 2 ? 0 : 1]!;
      const agent = makeAgent({ controlUrl: lb, dir: path.join(root, `agent-${i}`), clock, client: { rng: () => rs[i]! } });
      const token = await enrollChild(a, agent.credentials.deviceId(), `replica-${i}@example.com`);
      agent.credentials.saveEnrollment({ deviceToken: token, controlUrl: lb, osUser: 'alice', virtualKey: 'sk-bf-test-key-0000', userId: `user-${i}`, email: `replica-${i}@example.com` });
      agents.push(agent);
      tokens.push(token);
    }
    const ids = agents.map((x) => x.credentials.deviceId());
    for (const agent of agents) agent.client.start();
    await waitFor(() => agents.every((x) => x.client.status().state === 'connected'), 'every agent connected', 30_000);

    // Connected state is shared: A lists B's agents as connected, and B lists A's.
    await untilListed(a, (c) => ids.every((id) => c.get(id) === true), 'replica A lists all four agents as connected');
    await untilListed(b, (c) => ids.every((id) => c.get(id) === true), 'replica B lists all four agents as connected');

    // A policy change made on A reaches the agents connected to B.
    const decided = await a.admin('POST', 'apps/codex-cli/decision', { status: 'denied' });
    expect(decided.status).toBe(200);
    for (const x of agents.slice(2)) {
      await waitFor(() => x.applied.some((s) => s.apps.some((app) => app.id === 'codex-cli' && app.status === 'denied')), 'the denial pushed to an agent on B', 30_000);
    }

    // Revoking agent 3's device on A closes its connection on B.
    expect((await a.admin('POST', `devices/${ids[3]}/revoke`)).status).toBe(200);
    await waitFor(() => (agents[3]!.client.status().last_error ?? '').includes(`code ${CLOSE_CODES.revoked.code}`), 'agent 3 closed by B with 4403', 30_000);

    // Takeover: agent 2's device connects to A (its token, a second socket) while B holds its
    // connection: B closes its older one with 4409.
    const second = new WebSocket(a.wsUrl, SUBPROTOCOL, { headers: { authorization: `Bearer ${tokens[2]}` } });
    await new Promise<void>((resolve, reject) => {
      second.once('open', () => resolve());
      second.once('error', reject);
    });
    await waitFor(() => (agents[2]!.client.status().last_error ?? '').includes(`code ${CLOSE_CODES.superseded.code}`), 'agent 2 closed by B as superseded', 30_000);
    expect(second.readyState).toBe(WebSocket.OPEN);
    second.close();

    // Events: ten each from A's agents, acknowledged by A; five more queued just before A dies.
    for (const x of agents.slice(0, 2)) for (let i = 0; i < 10; i++) x.outbox.enqueue(auditEvent(i));
    await advanceUntil(clock, () => agents.slice(0, 2).every((x) => x.outbox.depth().rows === 0), 'first events acknowledged by A');
    for (const x of agents.slice(0, 2)) for (let i = 10; i < 15; i++) x.outbox.enqueue(auditEvent(i));

    const chosen = new Map<number, number>();
    [0, 1].forEach((i) =>
      agents[i]!.client.onStateChange((s) => {
        if (s.state === 'backoff' && s.next_retry_at && !chosen.has(i)) chosen.set(i, Date.parse(s.next_retry_at) - clock.now());
      }),
    );
    const killed = new Promise<NodeJS.Signals | null>((resolve) => a!.child.once('exit', (_code, signal) => resolve(signal)));
    a.child.kill('SIGKILL');
    expect(await killed).toBe('SIGKILL');
    // The clock stands still: A's agents lost their sockets and wait, each on its own backoff delay.
    await waitFor(() => chosen.size === 2, 'both of A\'s agents waiting to reconnect', 30_000);

    // A never removed its rows; B stops counting them once their heartbeat is older than 2.5 periods.
    const killedA = ids.slice(0, 2);
    await untilListed(b, (c) => killedA.every((id) => c.get(id) === false), 'B stops listing A\'s agents as connected');
    const rows = await pg.sql<{ device_id: string }>(DB, 'SELECT device_id FROM device_connections WHERE device_id = ANY($1) ORDER BY device_id', [killedA]);
    expect(rows.map((r) => r.device_id)).toEqual([...killedA].sort());

    // The balancer now sends A's traffic to B. Each agent's delay is its backoff with its own random
    // source: distinct; the first reconnects while the second still waits.
    lbA.backend.port = Number(new URL(b.url).port);
    for (const x of agents.slice(0, 2)) for (let i = 15; i < 20; i++) x.outbox.enqueue(auditEvent(i));
    const delays = [chosen.get(0)!, chosen.get(1)!];
    expect(delays[0]).not.toBe(delays[1]);
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(HARNESS_BACKOFF.floorMs);
      expect(d).toBeLessThanOrEqual(HARNESS_BACKOFF.capMs);
    }
    const order = [0, 1].sort((x, y) => delays[x]! - delays[y]!);
    const start = clock.now();
    clock.advance(start + delays[order[0]!]! - clock.now());
    await waitFor(() => agents[order[0]!]!.client.status().state === 'connected', 'the first of A\'s agents connected to B', 30_000);
    expect(agents[order[1]!]!.client.status().state).toBe('backoff');
    await advanceUntil(clock, () => agents.slice(0, 2).every((x) => x.client.status().state === 'connected'), 'both of A\'s agents connected to B');

    // Every event stored exactly once, and B lists the moved agents as connected again.
    await advanceUntil(clock, () => agents.slice(0, 2).every((x) => x.outbox.depth().rows === 0), 'every outbox drained into B');
    for (const id of killedA) {
      const stored = (await b.admin('GET', `events?device=${id}&type=request&limit=1000`)).body.events as { seq: number; attrs: { i: number } }[];
      expect(stored).toHaveLength(20);
      expect(new Set(stored.map((e) => e.seq)).size).toBe(20);
      expect(new Set(stored.map((e) => e.attrs.i))).toEqual(new Set(Array.from({ length: 20 }, (_, i) => i)));
    }
    await untilListed(b, (c) => killedA.every((id) => c.get(id) === true), 'B lists the moved agents as connected');
  });
});
