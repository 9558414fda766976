// The database lost and back (issue 21, "kill the database"): a gateway replica on a real PostgreSQL
// 15 whose server is killed (`pg_ctl stop -m immediate`, as a crash would) and started again on the
// same socket. While it is down the replica keeps running, refuses admin changes with a 503 that
// names the database (not a 500 with the driver's internals), and /readyz says why it is not ready;
// once it is back, changes go through again. An agent connected to it (a real SyncClient with a real
// outbox) stays connected through the outage: what it sends meanwhile is held by the replica and
// stored once the database is back. Every wait is for a state, never for time.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { createLogger } from '../../lib/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { MAX_WAITING_MESSAGES } from '../../gateway/src/hub/connection.ts';
import { enrolledDevice, Peer, startTestGateway, type TestGateway } from '../gateway/helpers.ts';
import { consoleRequest, signIn } from '../gateway/console-client.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { advanceUntil, auditEvent, makeAgent, type AgentHarness } from '../sync/agent-harness.ts';
import { waitFor } from '../sync/protocol-test-server.ts';

let server: TestPostgres;
let gw: TestGateway;
let dataDir: string;
let agent: AgentHarness | undefined;
const DB = `outage_${process.pid}`;
/** The gateway's log, as lines of JSON. */
let logged = '';

/** Polls until `check` holds (a state, not a duration; the deadline only bounds a failure). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyz = async () => {
  const res = await fetch(`${gw.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
};

beforeAll(async () => {
  server = await startTestPostgres();
  const url = await server.createDatabase(DB);
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-outage-'));
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => (logged += chunk.toString('utf8')));
  gw = await startTestGateway({ dataDir, logger: createLogger({ level: 'info', destination }), config: { ...EMPTY_CONFIG, store: { url, password: undefined } } });
});

afterAll(async () => {
  await agent?.close();
  await gw?.stop();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a gateway replica while its database is down', () => {
  it('refuses changes with a 503 naming the database, is not ready, and takes changes again once the database is back', async () => {
    expect((await gw.admin('PATCH', 'settings', { fail_mode: 'closed' })).status).toBe(200);
    const before = (await gw.admin('GET', 'settings')).body;
    const { cookie } = await signIn(gw.url, gw.adminToken);
    // The test server runs with synchronous_commit off (speed): a checkpoint makes what was committed
    // survive the kill, as a production server's synchronous commit does.
    await server.sql(DB, 'CHECKPOINT');
    server.halt();

    const refused = await gw.admin('PATCH', 'settings', { fail_mode: 'open' });
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({
      error: { code: 'store_unavailable', message: 'the gateway database is unreachable: nothing was changed; retry when it is back (GET /readyz says when)' },
    });
    const decide = await gw.admin('POST', 'apps/codex/decision', { status: 'denied' });
    expect([decide.status, decide.body.error.code]).toEqual([503, 'store_unavailable']);
    expect(await readyz()).toMatchObject({ status: 503, body: { ready: false, reason: 'store_unavailable' } });
    const page = await consoleRequest(gw.url, '/console/', { cookie });
    expect(page.status).toBe(503);
    expect(page.body).toContain('The gateway database is unreachable: nothing was changed.');
    // The process is alive and answering.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);

    await server.resume();
    await until(async () => (await readyz()).status === 200, '/readyz to say ready again');
    const changed = await gw.admin('PATCH', 'settings', { fail_mode: 'open' });
    expect(changed.status).toBe(200);
    expect(changed.body.fail_mode).toBe('open');
    // The console session, stored in the database, survived the outage.
    expect((await consoleRequest(gw.url, '/console/', { cookie })).status).toBe(200);
    expect(before.fail_mode).toBe('closed');
  });

  it('keeps a connected agent connected while the database is down, and stores what it sent meanwhile once, when it is back', async () => {
    const clock = new ManualClock(Date.now());
    agent = makeAgent({ controlUrl: gw.url, clock });
    const deviceId = agent.credentials.deviceId();
    const { token } = await enrolledDevice(gw, deviceId, 'outage@example.com');
    agent.credentials.saveEnrollment({ deviceToken: token, controlUrl: gw.url, osUser: 'alice', virtualKey: 'sk-bf-test-key-0000', userId: 'user-outage', email: 'outage@example.com' });
    const states: string[] = [];
    agent.client.onStateChange((s) => states.push(s.state));
    agent.client.start();
    await waitFor(() => agent!.client.status().state === 'connected', 'the agent connected', 30_000);
    agent.outbox.enqueue(auditEvent(0));
    await advanceUntil(clock, () => agent!.outbox.depth().rows === 0, 'the first event acknowledged');
    const connectedBefore = states.filter((s) => s === 'connected').length;

    await server.sql(DB, 'CHECKPOINT');
    server.halt();
    for (let i = 1; i <= 5; i++) agent.outbox.enqueue(auditEvent(i));
    // The agent sends them once its batching delay passes; the replica cannot store them.
    const held = '"msg":"the database is unreachable: holding the agent\'s message until it is back"';
    await advanceUntil(clock, () => logged.includes(held) || logged.includes('failed to handle an agent message'), 'the replica got the events with its database down');
    expect(logged).not.toContain('failed to handle an agent message');
    expect(agent.outbox.depth().rows).toBe(5);
    expect(agent.client.status().state).toBe('connected');

    await server.resume();
    await advanceUntil(clock, () => agent!.outbox.depth().rows === 0, 'the held events acknowledged once the database is back');
    // One connection throughout: never closed, never a backoff.
    expect(states.filter((s) => s === 'connected')).toHaveLength(connectedBefore);
    expect(states).not.toContain('backoff');
    const rows = await server.sql<{ seq: string }>(DB, 'SELECT seq FROM events WHERE device_id = $1 ORDER BY seq', [deviceId]);
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('stops reading from a peer that sends far ahead of its acks while the database is down, and reads the rest once it is back', async () => {
    const { token } = await enrolledDevice(gw, 'flooder');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('flooder');
    await server.sql(DB, 'CHECKPOINT');
    server.halt();
    // 400 messages of ~100 KB each, sent without waiting for acks: ~40 MB, far past what the gateway holds.
    const MESSAGES = 400;
    const PER_MESSAGE = 25;
    const attrs = { pad: 'x'.repeat(4000) };
    for (let m = 0; m < MESSAGES; m++) {
      const first = m * PER_MESSAGE + 1;
      const events = Array.from({ length: PER_MESSAGE }, (_, i) => ({ seq: first + i, type: 'request', at: new Date().toISOString(), app: 'claude-code', os_user: 'alice', attrs }));
      peer.send({ type: 'events', seq_from: first, events });
    }
    const paused = '"msg":"the agent is this many messages ahead of the gateway: reading from it paused until half are handled"';
    await waitFor(() => logged.includes(paused) || peer.ws.bufferedAmount === 0, 'the gateway to stop reading, or to have read everything', 60_000);
    expect(logged).toContain(paused);
    expect(logged).toContain(`"device_id":"flooder","waiting":${MAX_WAITING_MESSAGES}`);
    // What the gateway does not read stays with the sender (TCP pushes back): most of the 40 MB.
    expect(peer.ws.bufferedAmount).toBeGreaterThan(10 * 2 ** 20);

    await server.resume();
    const last = MESSAGES * PER_MESSAGE;
    await peer.next('ack', (a) => a.seq === last, { includeSeen: true });
    expect(peer.ws.bufferedAmount).toBe(0);
    peer.close();
  });
});
