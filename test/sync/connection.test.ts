// The connection stage alone: one websocket to a real protocol server on loopback, on a ManualClock.
// It sends hello first, answers pings itself, hands every other valid message up, counts invalid
// ones, and says how it ended (revoked or lost) in words for a person.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Connection, helloMessage, type ConnectionEnd, type HelloInput } from '../../agent/src/sync/index.ts';
import { CLOSE_CODES, CONNECT_PATH, type GatewayMessage, type ProtocolError } from '../../protocol/index.ts';
import { makePolicy, ProtocolTestServer, waitFor } from './protocol-test-server.ts';

const TOKEN = 'conn-token-0123456789abcdef';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const HELLO: HelloInput = {
  facts: { deviceId: 'dev_0123456789abcdef0123', hostname: 'laptop-1', os: 'linux', osVersion: 'Debian 12 (kernel 6.1)', arch: 'x64', agentVersion: '0.1.0-test' },
  users: [{ osUser: 'alice', userId: 'user-alice' }, { osUser: 'bob', userId: undefined }],
  policyVersion: 4,
  outboxStream: 'ob-0123456789abcdef',
  outboxFirstSeq: null,
};

async function server(options: Partial<ConstructorParameters<typeof ProtocolTestServer>[0]> = {}) {
  const s = new ProtocolTestServer({ token: TOKEN, policy: makePolicy(3), ...options });
  await s.start();
  cleanups.push(() => s.kill());
  return s;
}

function open(url: string, options: { token?: string; handshakeTimeoutMs?: number } = {}) {
  const clock = new ManualClock();
  const received: GatewayMessage[] = [];
  const invalid: ProtocolError[] = [];
  const problems: string[] = [];
  let end: ConnectionEnd | undefined;
  const conn = new Connection({
    url,
    deviceToken: options.token ?? TOKEN,
    hello: () => helloMessage(HELLO).hello,
    clock,
    logger: silentLogger(),
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 15_000,
    events: {
      message: (m) => received.push(m),
      invalid: (e) => invalid.push(e),
      problem: (t) => problems.push(t),
      ended: (e) => (end = e),
    },
  });
  cleanups.push(() => conn.close(1000, 'test over'));
  return { conn, clock, received, invalid, problems, ended: () => end };
}

const wsUrl = (s: ProtocolTestServer) => `ws://127.0.0.1:${s.port}${CONNECT_PATH}`;

describe('connection', () => {
  it('sends hello first, answers ping itself, and hands the other messages up', async () => {
    const s = await server();
    const c = open(wsUrl(s));
    await waitFor(() => c.received.some((m) => m.type === 'policy'), 'policy after hello');
    expect(s.connections[0]!.messages[0]).toMatchObject({ type: 'hello', device_id: HELLO.facts.deviceId, policy_version: 4 });
    expect(c.received.map((m) => m.type)).toEqual(['settings', 'ack', 'policy']);
    s.send(s.connections[0]!, { type: 'ping', id: 'p-7' });
    await waitFor(() => s.connections[0]!.messages.some((m) => m.type === 'pong'), 'pong');
    expect(s.connections[0]!.messages.at(-1)).toEqual({ type: 'pong', id: 'p-7' });
    expect(c.received.map((m) => m.type)).not.toContain('ping');
  });

  it.each([
    ['close code 4401', CLOSE_CODES.unauthorized.code],
    ['close code 4403', CLOSE_CODES.revoked.code],
  ])('ends as revoked on %s, saying what to do', async (_name, code) => {
    const s = await server();
    const c = open(wsUrl(s));
    await waitFor(() => c.received.length > 0, 'opened');
    s.connections[0]!.ws.close(code, 'device revoked');
    await waitFor(() => c.ended() !== undefined, 'ended');
    expect(c.ended()).toMatchObject({ revoked: true, opened: true });
    expect(c.ended()!.reason).toMatch(new RegExp(`close code ${code} \\(device revoked\\).*heimdall login`));
  });

  it('ends as lost, not revoked, when the gateway restarts', async () => {
    const s = await server();
    const c = open(wsUrl(s));
    await waitFor(() => c.received.length > 0, 'opened');
    s.connections[0]!.ws.close(1001, 'restarting');
    await waitFor(() => c.ended() !== undefined, 'ended');
    expect(c.ended()).toEqual({ revoked: false, opened: true, reason: 'connection closed (code 1001: restarting)', closeCode: 1001 });
  });

  it.each([
    [401, true, /device revoked or its token is no longer valid \(HTTP 401\)/],
    [503, false, /the gateway answered the websocket upgrade with HTTP 503/],
  ])('classifies HTTP %i on the upgrade (revoked: %s)', async (status, revoked, reason) => {
    const s = await server(status === 503 ? { rejectUpgradeWith: 503 } : {});
    const c = open(wsUrl(s), { token: status === 401 ? 'not-the-token' : TOKEN });
    await waitFor(() => c.ended() !== undefined, 'ended');
    expect(c.ended()).toMatchObject({ revoked, opened: false });
    expect(c.ended()!.reason).toMatch(reason);
    expect(c.ended()!.reason).not.toContain(TOKEN);
  });

  it('gives up on a handshake the gateway never answers when the clock reaches the deadline', async () => {
    const silent = net.createServer(() => undefined); // accepts TCP, never answers the upgrade
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    silent.on('connection', (socket) => cleanups.push(() => void socket.destroy()));
    const c = open(`ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}${CONNECT_PATH}`, { handshakeTimeoutMs: 5000 });
    await waitFor(() => silent.listening && c.clock.pendingTimers === 1, 'handshake deadline scheduled');
    c.clock.advance(5000);
    await waitFor(() => c.ended() !== undefined, 'ended');
    expect(c.ended()).toEqual({ revoked: false, opened: false, reason: 'the gateway did not complete the websocket handshake within 5000 ms' });
  });

  it('drops a gateway silent for two heartbeats, by the clock', async () => {
    const s = await server();
    const c = open(wsUrl(s));
    await waitFor(() => c.received.length > 0, 'opened');
    // 30 s heartbeat: pings every 15 s; nothing can be heard while the clock jumps, so by 75 s the
    // last message is more than two heartbeats and 5 s old.
    c.clock.advance(75_000);
    expect(c.problems).toEqual(['the gateway stopped answering (no ping or message for two heartbeats)']);
    await waitFor(() => c.ended() !== undefined, 'ended');
    expect(c.ended()).toMatchObject({ revoked: false, opened: true });
  });

  it('keeps a gateway that answers its pings, however long the clock runs', async () => {
    const s = await server();
    const c = open(wsUrl(s));
    await waitFor(() => c.received.length > 0, 'opened');
    let pongs = 0; // pings the gateway received (ws answers each with a pong)
    s.connections[0]!.ws.on('ping', () => pongs++);
    // A pong still on its way when the clock moves again is heard a round later: 15 s, well inside
    // two heartbeats. A client that did not count pongs as heard would drop this gateway at 75 s.
    for (let i = 1; i <= 10; i++) {
      c.clock.advance(15_000);
      await waitFor(() => pongs === i, `ping ${i} answered`);
    }
    expect(c.problems).toEqual([]);
    expect(c.ended()).toBeUndefined();
  });

  it('closes a connection after 20 invalid messages and says so', async () => {
    const s = await server();
    const c = open(wsUrl(s));
    await waitFor(() => c.received.length > 0, 'opened');
    for (let i = 0; i < 19; i++) s.sendRaw(s.connections[0]!, `garbage ${i}`);
    s.send(s.connections[0]!, { type: 'ping', id: 'marker' });
    await waitFor(() => s.connections[0]!.messages.some((m) => m.type === 'pong'), 'pong after 19 invalid');
    expect(c.invalid).toHaveLength(19);
    expect(c.ended()).toBeUndefined();
    s.sendRaw(s.connections[0]!, 'garbage 20');
    await waitFor(() => c.ended() !== undefined, 'closed after the 20th');
    expect(c.problems).toEqual(['the gateway sent 20 invalid messages (last: message is not valid JSON)']);
    expect(c.ended()!.reason).toBe('connection closed (code 4400: too many invalid messages)');
  });
});

describe('hello', () => {
  it('names the device, its users, the policy version held and the outbox position', () => {
    const { hello, problem } = helloMessage(HELLO);
    expect(problem).toBeUndefined();
    expect(hello).toEqual({
      type: 'hello',
      device_id: HELLO.facts.deviceId,
      hostname: 'laptop-1',
      os: 'linux',
      os_version: 'Debian 12 (kernel 6.1)',
      arch: 'x64',
      agent_version: '0.1.0-test',
      users: [{ os_user: 'alice', user_id: 'user-alice' }, { os_user: 'bob' }],
      policy_version: 4,
      outbox_stream: 'ob-0123456789abcdef',
      outbox_first_seq: null,
    });
  });

  it('says where a hello fails the protocol', () => {
    const { problem } = helloMessage({ ...HELLO, facts: { ...HELLO.facts, arch: 'not a token!' } });
    expect(problem).toMatch(/^this device's hello fails the protocol at arch: /);
  });
});
