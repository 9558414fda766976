// The websocket hub with real ws peers: hello -> settings, ack, policy; pushes after admin changes;
// idempotent events and inventory; per-user exceptions reaching only the devices of that user.
// The hub's timers and the control plane's timestamps run on a ManualClock: a policy push leaves
// when the test moves time past the push window, and "last seen" is an exact instant.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../lib/index.ts';
import { at, createKey, enroll, enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
const clock = new ManualClock();
/** Moves time past the hub's push window (20 ms), so coalesced policy changes go out. */
const passPushWindow = () => clock.advance(100);
beforeAll(async () => {
  // Heartbeats are hostile-peer.test.ts's subject; here they never fall due.
  gw = await startTestGateway({ clock, heartbeatMs: 24 * 3_600_000 });
});
afterAll(async () => {
  await gw.stop();
});

const events = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, type: 'request', at: at(i), app: 'claude-code', attrs: { status: 200 } }));

describe('session start', () => {
  it('answers hello with settings, ack and the policy snapshot, in that order', async () => {
    const { token } = await enrolledDevice(gw, 'dev-hello');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('dev-hello');
    expect(peer.messages.map((m) => m.type)).toEqual(['settings', 'ack', 'policy']);
    const [settings, ack, policy] = peer.messages;
    expect(settings).toMatchObject({ type: 'settings', max_message_bytes: 1048576, max_events_per_batch: 512 });
    expect(ack).toEqual({ type: 'ack', outbox_stream: 'stream-1', seq: 0 });
    if (policy?.type !== 'policy') throw new Error('no policy');
    expect(policy.snapshot.settings).toMatchObject({ pending_action: 'allow', fail_mode: 'open' });
    const device = (await gw.admin('GET', 'devices')).body.devices.find((d: { id: string }) => d.id === 'dev-hello');
    expect(device).toMatchObject({ hostname: 'dev-hello-host', os: 'linux', agent_version: '0.1.0', connected: true, owner: { email: 'dev-hello@example.com' } });
    peer.close();
    await peer.closed;
  });
});

describe('policy push', () => {
  it('pushes a new snapshot with a higher version to every connected device after an admin change', async () => {
    const a = await enrolledDevice(gw, 'dev-push-a');
    const b = await enrolledDevice(gw, 'dev-push-b');
    const pa = new Peer(gw.wsUrl, a.token);
    const pb = new Peer(gw.wsUrl, b.token);
    const first = (await pa.handshake('dev-push-a')).policy.snapshot.version;
    await pb.handshake('dev-push-b');
    const pushedA = pa.next('policy', (m) => m.snapshot.apps.some((x) => x.id === 'windsurf' && x.status === 'denied'));
    const pushedB = pb.next('policy', (m) => m.snapshot.apps.some((x) => x.id === 'windsurf' && x.status === 'denied'));
    await gw.admin('POST', 'apps/windsurf/decision', { status: 'denied' });
    passPushWindow();
    const [ma, mb] = await Promise.all([pushedA, pushedB]);
    expect(ma.snapshot.version).toBeGreaterThan(first);
    expect(mb.snapshot.version).toBe(ma.snapshot.version);
    pa.close();
    pb.close();
  });

  it('sends a user exception only to the devices of that user, with deny winning over approval', async () => {
    const alice = await enrolledDevice(gw, 'dev-alice', 'alice@corp.example', 'alice');
    const bob = await enrolledDevice(gw, 'dev-bob', 'bob@corp.example', 'bob');
    const pa = new Peer(gw.wsUrl, alice.token);
    const pb = new Peer(gw.wsUrl, bob.token);
    await pa.handshake('dev-alice');
    await pb.handshake('dev-bob');
    await gw.admin('POST', 'apps/opencode/decision', { status: 'approved' });
    passPushWindow();
    await pa.next('policy', (m) => m.snapshot.apps.some((x) => x.id === 'opencode'), { includeSeen: true });
    const aliceGetsException = pa.next('policy', (m) => m.snapshot.apps.find((x) => x.id === 'opencode')?.users?.['alice'] === 'denied');
    await gw.admin('POST', 'apps/opencode/decision', { status: 'denied', user: 'alice@corp.example' });
    passPushWindow();
    const pushed = await aliceGetsException;
    expect(pushed.snapshot.apps.find((x) => x.id === 'opencode')).toEqual({ id: 'opencode', status: 'approved', users: { alice: 'denied' } });
    // Bob's device gets the exception-free snapshot on resync, and never saw alice's exception.
    const resync = pb.next('policy');
    pb.send({ type: 'resync', policy_version: null });
    const bobs = await resync;
    expect(bobs.snapshot.apps.find((x) => x.id === 'opencode')).toEqual({ id: 'opencode', status: 'approved' });
    expect(JSON.stringify(pb.messages)).not.toContain('"alice"');
    // A user approval cannot lift a global deny.
    await gw.admin('POST', 'apps/opencode/decision', { status: 'denied' });
    passPushWindow();
    const deniedForAll = pb.next('policy', (m) => m.snapshot.apps.find((x) => x.id === 'opencode')?.status === 'denied', { includeSeen: true });
    await deniedForAll;
    const afterApprove = pb.next('policy', (m) => m.snapshot.apps.some((x) => x.id === 'opencode'));
    await gw.admin('POST', 'apps/opencode/decision', { status: 'approved', user: 'bob@corp.example' });
    passPushWindow();
    const bobAfter = await afterApprove;
    expect(bobAfter.snapshot.apps.find((x) => x.id === 'opencode')).toEqual({ id: 'opencode', status: 'denied' });
    pa.close();
    pb.close();
  });
});

describe('outbox ingestion', () => {
  it('stores a replayed batch once and acks the highest stored seq', async () => {
    const { token } = await enrolledDevice(gw, 'dev-events');
    const p1 = new Peer(gw.wsUrl, token);
    await p1.handshake('dev-events', { outbox_stream: 'st-events', outbox_first_seq: 1 });
    const ack1 = p1.next('ack', (m) => m.seq === 10);
    p1.send({ type: 'events', seq_from: 1, events: events(1, 10) });
    expect((await ack1).seq).toBe(10);
    p1.close();
    await p1.closed;

    // The ack was "lost": the agent reconnects and replays 1..10 plus 11..15.
    const p2 = new Peer(gw.wsUrl, token);
    const { ack } = await p2.handshake('dev-events', { outbox_stream: 'st-events', outbox_first_seq: 1 });
    expect(ack.seq).toBe(10);
    const ack2 = p2.next('ack', (m) => m.seq === 15);
    p2.send({ type: 'events', seq_from: 1, events: events(1, 15) });
    await ack2;
    const stored = (await gw.admin('GET', 'events?device=dev-events&limit=100')).body.events;
    expect(stored).toHaveLength(15);
    expect(new Set(stored.map((e: { seq: number }) => e.seq)).size).toBe(15);
    // Gaps in seqs (events summarised away by the agent) are fine; the gap event is stored like any other.
    const ack3 = p2.next('ack', (m) => m.seq === 30);
    p2.send({ type: 'events', seq_from: 20, events: [{ seq: 20, type: 'gap', at: at(), attrs: { count: 4, first_seq: 16, last_seq: 19 } }, { seq: 30, type: 'request', at: at() }] });
    await ack3;
    expect((await gw.admin('GET', 'events?device=dev-events&type=gap')).body.events[0].attrs).toEqual({ count: 4, first_seq: 16, last_seq: 19 });
    p2.close();
  });

  it('keeps separate outbox streams apart (a reinstalled agent starts again at seq 1)', async () => {
    const { token } = await enrolledDevice(gw, 'dev-streams');
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-streams', { outbox_stream: 'old' });
    const a1 = p.next('ack', (m) => m.seq === 3);
    p.send({ type: 'events', seq_from: 1, events: events(1, 3) });
    await a1;
    p.close();
    await p.closed;
    const q = new Peer(gw.wsUrl, token);
    const { ack } = await q.handshake('dev-streams', { outbox_stream: 'new' });
    expect(ack).toEqual({ type: 'ack', outbox_stream: 'new', seq: 0 });
    const a2 = q.next('ack', (m) => m.seq === 2);
    q.send({ type: 'events', seq_from: 1, events: events(1, 2) });
    await a2;
    expect((await gw.admin('GET', 'events?device=dev-streams')).body.events).toHaveLength(5);
    q.close();
  });

  it('turns inventory into pending catalog items with fleet counts, and ignores a replayed older inventory', async () => {
    const a = await enrolledDevice(gw, 'dev-inv-a');
    const b = await enrolledDevice(gw, 'dev-inv-b');
    const pa = new Peer(gw.wsUrl, a.token);
    const pb = new Peer(gw.wsUrl, b.token);
    await pa.handshake('dev-inv-a');
    await pb.handshake('dev-inv-b');
    pa.send({ type: 'inventory.apps', seq: 5, apps: [{ app_id: 'aider', display_name: 'Aider', os_user: 'alice' }, { app_id: 'goose' }] });
    await pa.next('ack', (m) => m.seq === 5);
    passPushWindow();
    pb.send({ type: 'inventory.apps', seq: 1, apps: [{ app_id: 'aider' }] });
    await pb.next('ack', (m) => m.seq === 1);
    const apps = (await gw.admin('GET', 'apps')).body.apps;
    expect(apps.find((x: { id: string }) => x.id === 'aider')).toMatchObject({ status: 'pending', fleet_count: 2, display_name: 'Aider' });
    expect(apps.find((x: { id: string }) => x.id === 'goose')).toMatchObject({ fleet_count: 1 });

    const server = { app: 'claude-code', scope: 'user', config_path: '/home/alice/.claude.json', name: 'github', transport: 'stdio', fingerprint: 'fp-github-0001', command: 'npx', args: ['-y', 'server-github'], env_keys: ['GITHUB_TOKEN'], header_keys: [], os_user: 'alice' };
    pa.send({ type: 'inventory.mcp', seq: 6, servers: [server], errors: [{ app: 'cursor', config_path: '/home/alice/.cursor/mcp.json', error: 'invalid JSON at line 3' }] });
    await pa.next('ack', (m) => m.seq === 6);
    const mcp = (await gw.admin('GET', 'mcp-servers')).body.mcp_servers.find((x: { fingerprint: string }) => x.fingerprint === 'fp-github-0001');
    expect(mcp).toMatchObject({ display_name: 'github', app: 'claude-code', transport: 'stdio', status: 'pending', fleet_count: 1 });
    // A new connection replays an older apps inventory (seq 5 <= stored 6): acked, not applied.
    pa.close();
    await pa.closed;
    const pa2 = new Peer(gw.wsUrl, a.token);
    await pa2.handshake('dev-inv-a');
    pa2.send({ type: 'inventory.apps', seq: 5, apps: [] });
    expect((await pa2.next('ack', () => true)).seq).toBe(6);
    const detail = (await gw.admin('GET', 'devices/dev-inv-a')).body;
    expect(detail.inventory.apps.map((x: { app_id: string }) => x.app_id)).toEqual(['aider', 'goose']);
    expect(detail.inventory.mcp_errors).toHaveLength(1);
    pa2.close();
    pb.close();
  });

  it('turns an approval request for an unknown MCP server into a pending item, which the snapshot lists once decided', async () => {
    const { token } = await enrolledDevice(gw, 'dev-approval');
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-approval');
    p.send({ type: 'approval.request', kind: 'mcp', fingerprint: 'fp-request-1', display_name: 'linear', os_user: 'alice' });
    // The connection handles messages in order: the pong means the request was handled.
    p.send({ type: 'ping', id: 'after-approval' });
    await p.next('pong', (m) => m.id === 'after-approval');
    const item = (await gw.admin('GET', 'mcp-servers')).body.mcp_servers.find((x: { fingerprint: string }) => x.fingerprint === 'fp-request-1');
    expect(item).toMatchObject({ display_name: 'linear', status: 'pending', fleet_count: 1 });
    // Pending is what the agent assumes for anything not listed: the snapshot carries decided items only.
    const pushed = p.next('policy', (m) => m.snapshot.mcp_servers.some((s) => s.fingerprint === 'fp-request-1'));
    expect((await gw.admin('POST', 'mcp-servers/fp-request-1/decision', { status: 'approved' })).status).toBe(200);
    passPushWindow();
    expect((await pushed).snapshot.mcp_servers.find((s) => s.fingerprint === 'fp-request-1')).toEqual({ fingerprint: 'fp-request-1', name: 'linear', status: 'approved' });
    p.close();
  });

  it('answers ping with pong carrying the same id', async () => {
    const { token } = await enrolledDevice(gw, 'dev-ping');
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-ping');
    p.send({ type: 'ping', id: 'p-1' });
    expect(await p.next('pong')).toMatchObject({ type: 'pong', id: 'p-1' });
    p.close();
  });
});

describe('events by user', () => {
  it("attributes agent events to the gateway user whose OS user signed in, and lists a user's events across devices", async () => {
    const { token } = await enrolledDevice(gw, 'dev-users-1', 'carol@example.com', 'carol');
    const key2 = (await enroll(gw, (await createKey(gw, 'dave@example.com')).key, 'dev-users-1', 'dave')).body.device_token as string;
    expect(key2).toBeTruthy();
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-users-1', { outbox_stream: 'st-users' });
    const acked = p.next('ack', (m) => m.seq === 3);
    p.send({ type: 'events', seq_from: 1, events: [
      { seq: 1, type: 'request', at: at(1), app: 'codex', os_user: 'carol' },
      { seq: 2, type: 'request', at: at(2), app: 'codex', os_user: 'dave' },
      { seq: 3, type: 'request', at: at(3), app: 'codex', os_user: 'root' }, // never signed in here
    ] });
    await acked;
    const all = (await gw.admin('GET', 'events?device=dev-users-1')).body.events as { seq: number; os_user: string; user_id: string | null }[];
    const carolId = (await gw.control.listVirtualKeys()).find((k) => k.userEmail === 'carol@example.com')!.userId;
    expect(Object.fromEntries(all.map((e) => [e.os_user, e.user_id]))).toMatchObject({ carol: carolId, root: null });
    expect(all.find((e) => e.os_user === 'dave')!.user_id).not.toBe(carolId);
    // The user is named, not only referenced by id.
    expect(Object.fromEntries(all.map((e) => [e.os_user, (e as { user_email?: string | null }).user_email]))).toEqual({ carol: 'carol@example.com', dave: 'dave@example.com', root: null });
    const carols = (await gw.admin('GET', 'events?user=carol%40example.com')).body.events as { seq: number; device_id: string }[];
    expect(carols.map((e) => [e.device_id, e.seq])).toEqual([['dev-users-1', 1]]);
    const unknown = await gw.admin('GET', 'events?user=nobody%40example.com');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.field).toBe('user');
    p.close();
    await p.closed;
  });
});

describe('last seen and time filters', () => {
  it('records last seen at disconnect and filters events by time in UTC whatever offset the agent used', async () => {
    const { token } = await enrolledDevice(gw, 'dev-times');
    const p = new Peer(gw.wsUrl, token);
    await p.handshake('dev-times', { outbox_stream: 'st-times' });
    const acked = p.next('ack', (m) => m.seq === 2);
    // 01:30+02:00 is 23:30Z the day before; 00:30Z is after it.
    p.send({ type: 'events', seq_from: 1, events: [{ seq: 1, type: 'request', at: '2025-01-02T01:30:00+02:00' }, { seq: 2, type: 'request', at: '2025-01-02T00:30:00Z' }] });
    await acked;
    const since = await gw.admin('GET', `events?device=dev-times&since=${encodeURIComponent('2025-01-02T00:00:00Z')}`);
    expect(since.body.events.map((e: { seq: number }) => e.seq)).toEqual([2]);
    const before = (await gw.admin('GET', 'devices/dev-times')).body.last_seen_at as string;
    clock.advance(10_000);
    const disconnectedAt = new Date(clock.now()).toISOString();
    p.close();
    await p.closed;
    await vi.waitFor(async () => expect((await gw.admin('GET', 'devices/dev-times')).body.last_seen_at).toBe(disconnectedAt));
    expect(Date.parse(disconnectedAt) - Date.parse(before)).toBe(10_000);
  });
});
