// The sync client against a real websocket server on loopback speaking the edge protocol, with the
// real policy room. Time is the agent's ManualClock: retries, batching delays and resyncs happen
// when a test advances it, and a test that says nothing happens advances it past when it would have.
import { afterEach, describe, expect, it } from 'vitest';
import os from 'node:os';
import { CLOSE_CODES, LIMITS, eventsSchema } from '../../protocol/index.ts';
import { HARNESS_BACKOFF, advanceUntil, auditEvent, makeAgent, seededRng, type AgentHarness } from './agent-harness.ts';
import { makePolicy, ProtocolTestServer, waitFor } from './protocol-test-server.ts';

const TOKEN = 'dev-token-0123456789abcdef';
const cleanups: (() => Promise<void>)[] = [];

async function setup(serverOptions: Partial<ConstructorParameters<typeof ProtocolTestServer>[0]> = {}, agentOptions: Partial<Parameters<typeof makeAgent>[0]> = {}) {
  const server = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(3), ...serverOptions });
  await server.start();
  const agent = makeAgent({ controlUrl: server.url, token: TOKEN, ...agentOptions });
  cleanups.push(async () => {
    await agent.close();
    await server.kill();
  });
  return { server, agent };
}

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function connectedOnce(agent: AgentHarness) {
  return waitFor(() => agent.client.status().state === 'connected', 'connected state');
}

/** Records every state the client enters from now on. */
function statesFrom(agent: AgentHarness): string[] {
  const states: string[] = [];
  agent.client.onStateChange((s) => states.push(s.state));
  return states;
}

describe('sync client', () => {
  it('sends hello with the device facts, users, policy version and outbox position', async () => {
    const { server, agent } = await setup({}, { osUsers: ['alice', 'bob'] });
    agent.outbox.enqueue(auditEvent(1));
    agent.client.start();
    await waitFor(() => server.connections[0]?.hello !== undefined, 'hello');
    const hello = server.connections[0]!.hello!;
    expect(hello.device_id).toBe(agent.credentials.deviceId());
    expect(hello.hostname).toBe(os.hostname());
    expect(hello.os).toBe('linux');
    expect(hello.arch).toBe(process.arch);
    expect(hello.agent_version).toBe('0.1.0-test');
    expect(hello.os_version).toMatch(/kernel/);
    expect(hello.users).toEqual([
      { os_user: 'alice', user_id: 'user-alice' },
      { os_user: 'bob', user_id: 'user-bob' },
    ]);
    expect(hello.policy_version).toBeNull();
    expect(hello.outbox_stream).toBe(agent.outbox.stream);
    expect(hello.outbox_first_seq).toBe(1);
  });

  it('applies the policy after hello, reports its version, and sends the known version on the next hello', async () => {
    const { server, agent } = await setup();
    agent.client.start();
    await waitFor(() => agent.applied.length === 1, 'policy applied');
    expect(agent.applied[0]!.version).toBe(3);
    await connectedOnce(agent);
    const status = agent.client.status();
    expect(status.policy_version).toBe(3);
    expect(status.policy_age_s).toBeGreaterThanOrEqual(0);
    // Reconnect: the hello names version 3, and the same snapshot is not applied a second time.
    server.connections[0]!.ws.close(1001, 'restart');
    await advanceUntil(agent.clock, () => server.connections.length === 2 && server.connections[1]!.hello !== undefined, 'second hello');
    expect(server.connections[1]!.hello!.policy_version).toBe(3);
    // A marker after the re-sent snapshot on the same socket: once it is applied, the re-send was handled.
    await waitFor(() => server.connections[1]!.messages.length > 0 && agent.client.status().state === 'connected', 'reconnected');
    server.pushPolicy(makePolicy(4));
    await waitFor(() => agent.applied.length === 2, 'marker policy');
    expect(agent.applied.map((p) => p.version)).toEqual([3, 4]);
  });

  it('applies a newer pushed policy and ignores an older one', async () => {
    const { server, agent } = await setup({ policy: makePolicy(5) });
    agent.client.start();
    await waitFor(() => agent.applied.length === 1, 'first policy');
    server.pushPolicy(makePolicy(7));
    await waitFor(() => agent.applied.length === 2, 'newer policy');
    server.pushPolicy(makePolicy(6));
    server.pushPolicy(makePolicy(2));
    // A marker after the old ones: once it is applied, the old ones have been handled.
    server.pushPolicy(makePolicy(8));
    await waitFor(() => agent.applied.length === 3, 'marker policy');
    expect(agent.applied.map((p) => p.version)).toEqual([5, 7, 8]);
    expect(agent.client.status().policy_version).toBe(8);
    // An older snapshot is ignored, not refused: nothing is reported to the gateway.
    expect(agent.queued('policy.rejected')).toBe(0);
    expect([...server.storedEvents(agent.outbox.stream).values()].filter((e) => e.type === 'policy.rejected')).toEqual([]);
  });

  it('coalesces a flood of policy pushes: memory stays bounded and the newest wins', async () => {
    const { server, agent } = await setup({ policy: makePolicy(1) });
    agent.client.start();
    await waitFor(() => agent.applied.length === 1, 'first policy');
    const conn = server.openConnections()[0]!;
    for (let v = 2; v <= 2000; v++) server.send(conn, { type: 'policy', snapshot: makePolicy(v) });
    await waitFor(() => agent.client.status().policy_version === 2000, 'newest policy');
    expect(agent.applied.length).toBeLessThan(2000);
    expect(agent.applied.map((p) => p.version)).toEqual([...agent.applied.map((p) => p.version)].sort((a, b) => a - b));
  });

  it('keeps the last good policy when the policy room rejects a snapshot, and reports it as an event', async () => {
    const { server, agent } = await setup({ policy: makePolicy(4) });
    agent.client.start();
    await waitFor(() => agent.applied.length === 1, 'first policy');
    agent.rejectWith.error = 'apps[1].id: duplicate app id';
    server.pushPolicy(makePolicy(9));
    await advanceUntil(agent.clock, () => [...server.storedEvents(agent.outbox.stream).values()].some((e) => e.type === 'policy.rejected'), 'policy.rejected event at the gateway');
    expect(agent.client.status().policy_version).toBe(4);
    const event = [...server.storedEvents(agent.outbox.stream).values()].find((e) => e.type === 'policy.rejected') as { attrs: Record<string, unknown> };
    expect(event.attrs['version']).toBe(9);
    expect(event.attrs['held_version']).toBe(4);
    expect(String(event.attrs['reason'])).toContain('duplicate app id');
  });

  it('never hands a snapshot that fails the protocol schema to the policy room', async () => {
    const { server, agent } = await setup({ policy: makePolicy(4) });
    agent.client.start();
    await waitFor(() => agent.applied.length === 1, 'first policy');
    const conn = server.openConnections()[0]!;
    const bad = { type: 'policy', snapshot: { ...makePolicy(10), settings: { ...makePolicy(10).settings, fail_mode: 'sideways' } } };
    server.sendRaw(conn, JSON.stringify(bad));
    await advanceUntil(agent.clock, () => [...server.storedEvents(agent.outbox.stream).values()].some((e) => e.type === 'policy.rejected'), 'policy.rejected event');
    expect(agent.applied.map((p) => p.version)).toEqual([4]);
    expect(agent.client.status().policy_version).toBe(4);
    expect(agent.client.status().state).toBe('connected');
  });

  it('delivers queued events in order in protocol-valid batches and empties the outbox on ack', async () => {
    const { server, agent } = await setup();
    for (let i = 0; i < 1200; i++) agent.outbox.enqueue(auditEvent(i));
    agent.outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'claude-code' }] });
    agent.client.start();
    await advanceUntil(agent.clock, () => agent.outbox.depth().rows === 0, 'outbox drained');
    const stored = server.storedEvents(agent.outbox.stream);
    expect(stored.size).toBe(1201);
    const batches = server.connections[0]!.messages.filter((m) => m.type === 'events');
    expect(batches.length).toBeGreaterThanOrEqual(3);
    for (const b of batches) expect(eventsSchema.safeParse(b).success).toBe(true);
    expect(batches.every((b) => b.type === 'events' && b.events.length <= LIMITS.maxEventsPerBatch)).toBe(true);
    // In order: every seq the server received is higher than the one before.
    expect(server.receivedSeqs).toEqual([...server.receivedSeqs].sort((a, b) => a - b));
    // Events enqueued while connected go out too.
    agent.outbox.enqueue(auditEvent(5000, 'block'));
    await advanceUntil(agent.clock, () => stored.size === 1202 && agent.outbox.depth().rows === 0, 'live event delivered');
  });

  it('sends the events of a burst of requests together, a moment after they were written', async () => {
    const { server, agent } = await setup();
    agent.client.start();
    await connectedOnce(agent);
    await waitFor(() => server.connections[0]!.messages.some((m) => m.type === 'hello'), 'hello');
    const before = server.connections[0]!.messages.filter((m) => m.type === 'events').length;
    // Five requests ending in five separate event-loop turns, as a session's requests do, within
    // the batching delay (the clock does not move between them).
    for (let i = 0; i < 5; i++) {
      agent.outbox.enqueue(auditEvent(9000 + i));
      await new Promise((resolve) => setImmediate(resolve));
    }
    agent.clock.advance(50);
    await waitFor(() => agent.outbox.depth().rows === 0, 'burst delivered');
    const batches = server.connections[0]!.messages.filter((m) => m.type === 'events').slice(before);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.type === 'events' && batches[0]!.events.length).toBe(5);
  });

  it('backs off with full jitter while the gateway is down, then delivers every event exactly once', async () => {
    const { server, agent } = await setup({}, { client: { rng: seededRng(7) } });
    const states: string[] = [];
    const delays: number[] = [];
    agent.client.onStateChange((s) => {
      states.push(s.state);
      if (s.state === 'backoff' && s.next_retry_at) delays.push(Date.parse(s.next_retry_at) - agent.clock.now());
    });
    agent.client.start();
    await connectedOnce(agent);
    for (let i = 0; i < 50; i++) agent.outbox.enqueue(auditEvent(i));
    await advanceUntil(agent.clock, () => server.storedEvents(agent.outbox.stream).size === 50, 'first 50 stored');

    const port = server.port;
    await server.kill();
    // While it is down: events keep coming and stay in the outbox; the client keeps retrying.
    for (let i = 50; i < 300; i++) agent.outbox.enqueue(auditEvent(i));
    await advanceUntil(agent.clock, () => delays.length >= 8, 'eight backoff rounds');
    expect(agent.outbox.depth().rows).toBe(250);
    expect(agent.client.status().policy_version).toBe(3); // the last good policy is still held
    // Each delay lies in its window [floor, min(cap, base * 2^attempt)], and the window grows.
    delays.forEach((d, attempt) => {
      expect(d).toBeGreaterThanOrEqual(HARNESS_BACKOFF.floorMs);
      expect(d).toBeLessThanOrEqual(Math.min(HARNESS_BACKOFF.capMs, HARNESS_BACKOFF.baseMs * 2 ** attempt));
    });
    // Full jitter, not a fixed or "equal jitter" delay: some delays fall in the lower half of their window.
    expect(delays.some((d, attempt) => d < Math.min(HARNESS_BACKOFF.capMs, HARNESS_BACKOFF.baseMs * 2 ** attempt) / 2)).toBe(true);

    // The gateway comes back on the same port with its stored events (a restart, not a wipe).
    const restarted = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(3), port });
    for (const [stream, events] of server.stored) restarted.stored.set(stream, new Map(events));
    await restarted.start();
    cleanups.push(() => restarted.kill());
    await advanceUntil(agent.clock, () => agent.outbox.depth().rows === 0, 'outbox drained after restart');
    const stored = restarted.storedEvents(agent.outbox.stream);
    expect(stored.size).toBe(300);
    expect([...stored.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // Each event's payload arrived intact under its own seq.
    expect((stored.get(300) as unknown as { attrs: { i: number } }).attrs.i).toBe(299);
    expect(states).toContain('backoff');
  });

  it('keeps growing the backoff against a gateway that accepts and then drops every connection', async () => {
    const { server, agent } = await setup({ dropAfterHello: true }, { client: { rng: () => 0.999_999, stableAfterMs: 60_000 } });
    const delays: number[] = [];
    agent.client.onStateChange((s) => {
      if (s.state === 'backoff' && s.next_retry_at) delays.push(Date.parse(s.next_retry_at) - agent.clock.now());
    });
    agent.client.start();
    await advanceUntil(agent.clock, () => delays.length >= 5, 'five drops', 1);
    // Each connection was usable (hello answered) but never stable: the window doubles up to the cap.
    expect(server.connections.every((c) => c.hello !== undefined)).toBe(true);
    expect(delays.slice(0, 5)).toEqual([50, 100, 200, 400, 400]);
  });

  it('summarises the oldest audit events when the outbox fills while the gateway is down; the gap arrives with correct counts', async () => {
    const { server, agent } = await setup({}, { outboxMaxRows: 100 });
    agent.client.start();
    await connectedOnce(agent);
    const port = server.port;
    await server.kill();
    for (let i = 0; i < 400; i++) agent.outbox.enqueue(auditEvent(i, i % 3 === 0 ? 'block' : 'request'));
    expect(agent.outbox.depth().rows).toBeLessThanOrEqual(100);
    const restarted = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(3), port });
    await restarted.start();
    cleanups.push(() => restarted.kill());
    await advanceUntil(agent.clock, () => agent.outbox.depth().rows === 0, 'drained');
    const stored = [...restarted.storedEvents(agent.outbox.stream).values()] as { type: string; attrs?: Record<string, unknown> }[];
    const gaps = stored.filter((e) => e.type === 'gap');
    expect(gaps).toHaveLength(1);
    const real = stored.filter((e) => e.type !== 'gap');
    const gapCount = Number(gaps[0]!.attrs!['count']);
    // Every event is accounted for: delivered one by one, or counted in the gap.
    expect(real.length + gapCount).toBe(400);
    const blocks = real.filter((e) => e.type === 'block').length + Number(gaps[0]!.attrs!['count.block'] ?? 0);
    expect(blocks).toBe(Math.ceil(400 / 3));
  });

  it('replays unacknowledged events after a reconnect and the gateway dedupes them by seq', async () => {
    const { server, agent } = await setup({ autoAck: false });
    agent.client.start();
    await connectedOnce(agent);
    for (let i = 0; i < 20; i++) agent.outbox.enqueue(auditEvent(i));
    await advanceUntil(agent.clock, () => server.receivedSeqs.length === 20, 'first delivery');
    expect(agent.outbox.depth().rows).toBe(20); // no ack, nothing deleted
    server.options.autoAck = true;
    server.connections[0]!.ws.close(1001, 'restart');
    await advanceUntil(agent.clock, () => agent.outbox.depth().rows === 0, 'drained after reconnect');
    // The hello-ack told the agent the gateway already held 1..20: nothing is sent twice.
    expect(server.receivedSeqs).toHaveLength(20);
    expect(server.storedEvents(agent.outbox.stream).size).toBe(20);
  });

  it('ignores replayed, foreign and impossible acks', async () => {
    const { server, agent } = await setup({ autoAck: false });
    agent.client.start();
    await connectedOnce(agent);
    for (let i = 0; i < 10; i++) agent.outbox.enqueue(auditEvent(i));
    await advanceUntil(agent.clock, () => server.receivedSeqs.length === 10, 'delivered');
    const conn = server.openConnections()[0]!;
    const stream = agent.outbox.stream;
    server.send(conn, { type: 'ack', outbox_stream: stream, seq: 4 });
    await waitFor(() => agent.outbox.depth().rows === 6, 'ack 4 applied');
    server.send(conn, { type: 'ack', outbox_stream: stream, seq: 2 }); // replayed, older
    server.send(conn, { type: 'ack', outbox_stream: 'ob-someone-else', seq: 10 }); // another stream
    server.send(conn, { type: 'ack', outbox_stream: stream, seq: 1_000_000 }); // never assigned
    server.send(conn, { type: 'ping', id: 'p1' });
    await waitFor(() => conn.messages.some((m) => m.type === 'pong'), 'pong after the acks');
    expect(agent.outbox.depth().rows).toBe(6);
    expect(agent.outbox.firstSeq()).toBe(5);
    expect(agent.client.status().state).toBe('connected');
  });

  it('survives hostile messages: malformed, wrong types, binary, unknown, oversized', async () => {
    const { server, agent } = await setup();
    agent.client.start();
    await connectedOnce(agent);
    const conn = server.openConnections()[0]!;
    const hostile: (string | Buffer)[] = [
      '{not json',
      '[]',
      'null',
      '{"type":42}',
      '{"type":"policy","snapshot":"all of them"}',
      '{"type":"ack","outbox_stream":"x","seq":-1}',
      '{"type":"ack","outbox_stream":"x","seq":"9"}',
      '{"type":"settings","heartbeat_s":0}',
      '{"type":"' + 'x'.repeat(10_000) + '"}',
      '{"type":"cert","id":"nobody-asked","ok":true,"cert_pem":"x","ca_pem":"y","not_after":"2030-01-01T00:00:00Z"}',
      '{"type":"error","code":"internal","message":"spurious"}',
      '{"__proto__":{"polluted":true},"type":"ping"}',
    ];
    for (const h of hostile) server.sendRaw(conn, h);
    server.sendRaw(conn, Buffer.from([0, 1, 2, 3]), true);
    server.send(conn, { type: 'ping', id: 'after-garbage' });
    await waitFor(() => conn.messages.some((m) => m.type === 'pong' && m.id === 'after-garbage'), 'pong after garbage');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(agent.client.status().state).toBe('connected');
    expect(agent.applied).toHaveLength(1);

    // Oversized: over the gateway limit the websocket layer cuts the connection (1009); the client
    // backs off and comes back, it does not crash.
    server.sendRaw(conn, JSON.stringify({ type: 'pong', pad: 'x'.repeat(LIMITS.maxGatewayMessageBytes + 10) }));
    await advanceUntil(agent.clock, () => server.connections.length >= 2 && server.connections[1]!.hello !== undefined, 'reconnected after oversized message');
    expect(conn.closed).toBe(true);
  });

  it('closes a connection that keeps sending garbage and reconnects with backoff', async () => {
    const { server, agent } = await setup();
    agent.client.start();
    await connectedOnce(agent);
    const conn = server.openConnections()[0]!;
    for (let i = 0; i < 25; i++) server.sendRaw(conn, `garbage ${i}`);
    await waitFor(() => conn.closed, 'closed by the agent');
    expect(agent.client.status().last_error).toMatch(/code 4400: too many invalid messages/);
    await advanceUntil(agent.clock, () => server.connections.length >= 2, 'reconnect');
  });

  it.each([
    ['close code 4401', CLOSE_CODES.unauthorized.code],
    ['close code 4403', CLOSE_CODES.revoked.code],
  ])('stops and reports a revoked device on %s, without a reconnect loop', async (_name, code) => {
    const { server, agent } = await setup();
    agent.client.start();
    await connectedOnce(agent);
    server.openConnections()[0]!.ws.close(code, 'device revoked');
    await waitFor(() => agent.client.status().state === 'revoked', 'revoked state');
    // Far past every backoff window: a retry would have moved the client to `connecting`.
    const states = statesFrom(agent);
    agent.clock.advance(10 * HARNESS_BACKOFF.capMs);
    expect(states).toEqual([]);
    const status = agent.client.status();
    expect(status.last_error).toMatch(/revoked/);
    expect(status.last_error).toMatch(/heimdall login/);
    expect(status.last_error).not.toContain(TOKEN);
    // Persisted: a restarted agent does not retry either until the next login.
    expect(agent.credentials.enrollment()).toBeUndefined();
    // A new login (new token) and wake() reconnect at once.
    agent.credentials.saveEnrollment({ deviceToken: TOKEN, controlUrl: server.url, osUser: 'alice', virtualKey: 'sk-bf-test-key-0000' });
    agent.client.wake();
    await connectedOnce(agent);
  });

  it('treats HTTP 401 on the websocket upgrade as revoked', async () => {
    const { server, agent } = await setup({ token: 'the-gateway-expects-another-token' });
    agent.client.start();
    await waitFor(() => agent.client.status().state === 'revoked', 'revoked');
    const states = statesFrom(agent);
    agent.clock.advance(10 * HARNESS_BACKOFF.capMs);
    expect(states).toEqual([]);
    expect(server.upgradeAttempts).toHaveLength(1);
    expect(agent.client.status().last_error).toContain('HTTP 401');
  });

  it('backs off on other upgrade failures (HTTP 503) instead of giving up', async () => {
    const { server, agent } = await setup({ rejectUpgradeWith: 503 });
    agent.client.start();
    await advanceUntil(agent.clock, () => server.upgradeAttempts.length >= 3, 'three attempts');
    expect(['backoff', 'connecting']).toContain(agent.client.status().state);
    expect(agent.client.status().last_error).toContain('HTTP 503');
  });

  it('stays not_enrolled, without connecting, until a login', async () => {
    const server = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(1) });
    await server.start();
    const agent = makeAgent({ controlUrl: server.url });
    cleanups.push(async () => {
      await agent.close();
      await server.kill();
    });
    agent.client.start();
    expect(agent.client.status().state).toBe('not_enrolled');
    // Nothing is scheduled while waiting for a login: no retry loop against a gateway that would refuse.
    expect(agent.clock.pendingTimers).toBe(0);
    const states = statesFrom(agent);
    agent.clock.advance(10 * HARNESS_BACKOFF.capMs);
    expect(states).toEqual([]);
    expect(server.upgradeAttempts).toHaveLength(0);
    agent.credentials.saveEnrollment({ deviceToken: TOKEN, controlUrl: server.url, osUser: 'alice', virtualKey: 'sk-bf-test-key-0000' });
    agent.client.wake();
    await waitFor(() => agent.applied.length === 1, 'policy after login');
  });

  it('runs a periodic full resync on the open connection, which recovers a lost policy push', async () => {
    const { server, agent } = await setup({ policy: makePolicy(2) }, { client: { fullResyncMs: 150 } });
    agent.client.start();
    await waitFor(() => agent.applied.length === 1, 'policy');
    // A lost push: the gateway's policy changes and the agent is not told.
    server.policy = makePolicy(3);
    await advanceUntil(agent.clock, () => agent.applied.length === 2, 'policy from resync');
    expect(agent.applied[1]!.version).toBe(3);
    const conn = server.connections[0]!;
    const resync = conn.messages.find((m) => m.type === 'resync');
    // The resync names the version the policy room held when it was sent.
    expect(resync).toEqual({ type: 'resync', policy_version: 2 });
    expect(server.connections).toHaveLength(1); // no reconnect
    expect(conn.closed).toBe(false);
  });

  it('answers ping with pong carrying the same id', async () => {
    const { server, agent } = await setup();
    agent.client.start();
    await connectedOnce(agent);
    const conn = server.openConnections()[0]!;
    server.send(conn, { type: 'ping', id: 'abc-1' });
    await waitFor(() => conn.messages.some((m) => m.type === 'pong'), 'pong');
    expect(conn.messages.find((m) => m.type === 'pong')).toEqual({ type: 'pong', id: 'abc-1' });
  });
});
