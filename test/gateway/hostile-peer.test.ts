// A hostile or broken peer: every bad message closes that connection, with the protocol's close code
// and a reason naming the problem, while another device's connection carries on untouched. The
// hub's deadlines (hello, heartbeat) run on a ManualClock that the tests move.
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { CLOSE_CODES, LIMITS } from '../../protocol/index.ts';
import { at, enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let bystander: Peer;
let tokens: Record<string, string>;
const HELLO_TIMEOUT_MS = 300;
const clock = new ManualClock();

beforeAll(async () => {
  gw = await startTestGateway({ helloTimeoutMs: HELLO_TIMEOUT_MS, clock });
  tokens = {};
  for (const id of ['bystander', 'hostile']) tokens[id] = (await enrolledDevice(gw, id)).token;
  bystander = new Peer(gw.wsUrl, tokens['bystander']);
  await bystander.handshake('bystander');
});
afterAll(async () => {
  bystander.close();
  await gw.stop();
});

async function expectBystanderAlive(): Promise<void> {
  const pong = bystander.next('pong', (m) => m.id === 'still-there');
  bystander.send({ type: 'ping', id: 'still-there' });
  await pong;
}

async function closedBy(send: (p: Peer) => void, options: { hello?: boolean } = {}): Promise<{ code: number; reason: string; error: unknown }> {
  const peer = new Peer(gw.wsUrl, tokens['hostile']);
  if (options.hello === false) await peer.opened;
  else await peer.handshake('hostile');
  send(peer);
  const closed = await peer.closed;
  return { ...closed, error: peer.messages.find((m) => m.type === 'error') };
}

const event = (seq: number) => ({ seq, type: 'request', at: at() });

describe('hostile peer', () => {
  it('closes with 4400 on invalid JSON', async () => {
    const r = await closedBy((p) => p.send('{"type":'));
    expect(r.code).toBe(CLOSE_CODES.badMessage.code);
    expect(r.reason).toBe('message is not valid JSON');
    expect(r.error).toMatchObject({ type: 'error', code: 'bad_message' });
    await expectBystanderAlive();
  });

  it('closes with 4400 naming the field on a schema violation', async () => {
    const r = await closedBy((p) => p.send({ type: 'events', seq_from: 1, events: [{ seq: 1, type: 'request', at: 'yesterday' }] }));
    expect(r.code).toBe(4400);
    expect(r.reason).toMatch(/^events\.events\[0\]\.at: /);
    await expectBystanderAlive();
  });

  it('closes with 4400 on an unknown type and on binary frames', async () => {
    expect((await closedBy((p) => p.send({ type: 'policy', snapshot: {} }))).code).toBe(4400);
    const binary = await closedBy((p) => p.ws.send(Buffer.from([1, 2, 3]), { binary: true }));
    expect(binary.code).toBe(4400);
    expect(binary.reason).toMatch(/binary/);
    await expectBystanderAlive();
  });

  it('closes with 4413 on a message over 1 MiB and on a batch over 512 events', async () => {
    const big = await closedBy((p) => p.send({ type: 'ping', pad: 'x'.repeat(LIMITS.maxAgentMessageBytes) }));
    expect(big.code).toBe(CLOSE_CODES.tooLarge.code);
    const many = await closedBy((p) => p.send({ type: 'events', seq_from: 1, events: Array.from({ length: 513 }, (_, i) => event(i + 1)) }));
    expect(many.code).toBe(4413);
    await expectBystanderAlive();
  });

  it('cuts a frame far over the limit at the websocket layer (1009)', async () => {
    const r = await closedBy((p) => p.send('x'.repeat(3 * LIMITS.maxAgentMessageBytes)));
    expect(r.code).toBe(1009);
    await expectBystanderAlive();
  });

  it('closes with 4400 when a message comes before hello, and when hello comes twice', async () => {
    const early = await closedBy((p) => p.send({ type: 'events', seq_from: 1, events: [event(1)] }), { hello: false });
    expect(early.code).toBe(4400);
    expect(early.reason).toMatch(/before hello/);
    const twice = await closedBy((p) => p.send({ type: 'hello', device_id: 'hostile', hostname: 'h', os: 'linux', os_version: '1', arch: 'x64', agent_version: '1', users: [], policy_version: null, outbox_stream: 's', outbox_first_seq: null }));
    expect(twice.code).toBe(4400);
    expect(twice.reason).toMatch(/twice/);
    await expectBystanderAlive();
  });

  it('closes with 4400 on out-of-order and replayed seqs within one connection', async () => {
    const replay = await closedBy((p) => {
      p.send({ type: 'events', seq_from: 1, events: [event(1), event(2)] });
      p.send({ type: 'events', seq_from: 2, events: [event(2)] });
    });
    expect(replay.code).toBe(4400);
    expect(replay.reason).toMatch(/out of order/);
    const disorder = await closedBy((p) => p.send({ type: 'events', seq_from: 5, events: [event(5), event(4)] }));
    expect(disorder.code).toBe(4400);
    expect(disorder.reason).toMatch(/strictly increase/);
    await expectBystanderAlive();
  });

  it('closes with 4401 when hello names another device', async () => {
    const r = await closedBy(
      (p) => p.send({ type: 'hello', device_id: 'bystander', hostname: 'h', os: 'linux', os_version: '1', arch: 'x64', agent_version: '1', users: [], policy_version: null, outbox_stream: 's', outbox_first_seq: null }),
      { hello: false },
    );
    expect(r.code).toBe(CLOSE_CODES.unauthorized.code);
    await expectBystanderAlive();
  });

  it('closes with 4408 when no hello arrives in time', async () => {
    // Accepted (the peer saw the upgrade) and silent: nothing happens until the deadline passes.
    const r = await closedBy(() => clock.advance(HELLO_TIMEOUT_MS), { hello: false });
    expect(r.code).toBe(CLOSE_CODES.tooSlow.code);
    await expectBystanderAlive();
  });

  it('refuses the upgrade without the subprotocol (400), without a token (401), with an unknown token (401)', async () => {
    await expect(new Peer(gw.wsUrl, tokens['hostile'], { protocol: null }).opened).rejects.toMatchObject({ status: 400 });
    await expect(new Peer(gw.wsUrl, tokens['hostile'], { protocol: 'heimdall.edge.v0' }).opened).rejects.toMatchObject({ status: 400 });
    await expect(new Peer(gw.wsUrl, undefined).opened).rejects.toMatchObject({ status: 401 });
    await expect(new Peer(gw.wsUrl, 'hdt_forged').opened).rejects.toMatchObject({ status: 401 });
    await expectBystanderAlive();
  });

  it('drops a peer that stops answering heartbeats', async () => {
    const quickClock = new ManualClock();
    const quick = await startTestGateway({ heartbeatMs: 100, clock: quickClock });
    try {
      const { token } = await enrolledDevice(quick, 'silent');
      const peer = new Peer(quick.wsUrl, token);
      await peer.handshake('silent');
      // Stop the client's automatic pong replies: the socket stays open but the peer looks dead.
      const socket = (peer.ws as unknown as { _socket: Socket })._socket;
      peer.ws.pong = () => {};
      (peer.ws as unknown as { _receiver: { removeAllListeners(e: string): void } })._receiver.removeAllListeners('ping');
      // First beat: pinged and marked unanswered; second beat: still unanswered, so cut.
      quickClock.advance(100);
      expect(quick.hub.isConnected('silent')).toBe(true);
      quickClock.advance(100);
      const closed = await peer.closed;
      expect(closed.code).toBe(1006);
      expect(socket.destroyed).toBe(true);
      await vi.waitFor(() => expect(quick.hub.isConnected('silent')).toBe(false));
    } finally {
      await quick.stop();
    }
  });
});
