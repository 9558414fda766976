// Issue 15, attack 2 and the device budgets, against a real `heimdall-gateway run` process: one
// device's reports never grow the policy every agent receives, and a message over a budget gets the
// device a clear `over_budget` (the connection goes on, the seq is acknowledged) and administrators
// a `budget.exceeded` event.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIMITS, type GatewayMessage } from '../../protocol/index.ts';
import { Peer, at } from './helpers.ts';
import { enrollChild, startGatewayChild, type GatewayChild } from './process.ts';

let gw: GatewayChild;

beforeAll(async () => {
  gw = await startGatewayChild();
});

afterAll(async () => {
  await gw.stop();
});

const apps = (prefix: string, n: number) => Array.from({ length: n }, (_, j) => ({ app_id: `${prefix}-${j}`, display_name: `Flood ${prefix} ${j}`, os_user: 'mallory' }));
const servers = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, j) => ({
    app: 'claude-code', scope: 'user', config_path: '/c.json', name: `s${j}`, transport: 'stdio', fingerprint: `${prefix}-fp-${j}`, env_keys: [], header_keys: [],
  }));

async function connected(deviceId: string): Promise<Peer> {
  const peer = new Peer(gw.wsUrl, await enrollChild(gw, deviceId));
  await peer.handshake(deviceId);
  return peer;
}

/** The raw text of the next policy message a fresh connection of `deviceId` receives. */
async function policyText(deviceId: string, token: string): Promise<string> {
  const peer = new Peer(gw.wsUrl, token);
  const raw = new Promise<string>((resolve) => {
    peer.ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      if (text.startsWith('{"type":"policy"')) resolve(text);
    });
  });
  await peer.handshake(deviceId);
  const text = await raw;
  peer.close();
  return text;
}

const overBudget = (peer: Peer) => peer.messages.filter((m): m is Extract<GatewayMessage, { type: 'over_budget' }> => m.type === 'over_budget');

describe('attack 2: one device cuts the fleet off from policy', () => {
  it('refuses twenty inventory.apps of 2,048 apps each over budget, and a normal agent still receives its policy', async () => {
    const mallory = await connected('dev-flood');
    const lastAck = mallory.next('ack', (m) => m.seq === 20);
    for (let i = 1; i <= 20; i++) mallory.send({ type: 'inventory.apps', seq: i, apps: apps(`flood${i}`, LIMITS.maxInventoryApps) });
    await lastAck;
    const refused = overBudget(mallory);
    expect(refused).toHaveLength(20);
    expect(refused[0]).toMatchObject({ budget: 'inventory_apps', limit: 512, got: 2048, seq: 1 });
    expect(refused[0]!.message).toContain('heimdall-gateway budgets set inventory_apps');
    // Not a close the agent would retry in a loop: the connection is still open.
    expect(mallory.ws.readyState).toBe(mallory.ws.OPEN);

    const alice = await enrollChild(gw, 'dev-normal');
    const text = await policyText('dev-normal', alice);
    expect(Buffer.byteLength(text)).toBeLessThan(LIMITS.maxGatewayMessageBytes);
    expect(text).not.toContain('flood');
    expect((await gw.admin('GET', 'apps')).body.apps.some((a: { id: string }) => a.id.startsWith('flood'))).toBe(false);

    const events = (await gw.admin('GET', 'events?device=dev-flood&type=budget.exceeded')).body.events;
    expect(events[0]).toMatchObject({ source: 'gateway', type: 'budget.exceeded', device_id: 'dev-flood', attrs: { budget: 'inventory_apps', limit: 512, got: 2048, message_type: 'inventory.apps' } });
    mallory.close();
  });

  it('with 50,000 apps and 50,000 MCP servers in the catalogs, every agent gets its policy under the message limit', async () => {
    const raised = await gw.admin('PATCH', 'budgets', { inventory_apps: LIMITS.maxInventoryApps, inventory_mcp: LIMITS.maxInventoryMcpServers, catalog_items: 200_000 });
    expect(raised.status).toBe(200);
    const reporter = await connected('dev-big-catalog');
    const appsDone = reporter.next('ack', (m) => m.seq === 25);
    for (let i = 1; i <= 25; i++) reporter.send({ type: 'inventory.apps', seq: i, apps: apps(`big${i}`, LIMITS.maxInventoryApps) });
    await appsDone;
    const mcpDone = reporter.next('ack', (m) => m.seq === 38);
    for (let i = 26; i <= 38; i++) reporter.send({ type: 'inventory.mcp', seq: i, servers: servers(`fp${i}`, LIMITS.maxInventoryMcpServers), errors: [] });
    await mcpDone;
    expect(overBudget(reporter)).toEqual([]);
    // Inventory replaces inventory, but the catalogs keep every item ever seen.
    expect((await gw.admin('GET', 'apps?status=pending')).body.apps.length).toBeGreaterThanOrEqual(50_000);
    expect((await gw.admin('GET', 'mcp-servers?status=pending')).body.mcp_servers.length).toBeGreaterThanOrEqual(50_000);
    expect((await gw.admin('POST', 'apps/big3-7/decision', { status: 'approved' })).status).toBe(200);
    expect((await gw.admin('POST', 'mcp-servers/fp30-fp-12/decision', { status: 'denied' })).status).toBe(200);

    const token = await enrollChild(gw, 'dev-after-big');
    const text = await policyText('dev-after-big', token);
    expect(Buffer.byteLength(text)).toBeLessThan(LIMITS.maxGatewayMessageBytes);
    const snapshot = (JSON.parse(text) as Extract<GatewayMessage, { type: 'policy' }>).snapshot;
    expect(snapshot.apps).toContainEqual({ id: 'big3-7', display_name: 'Flood big3 7', status: 'approved' });
    expect(snapshot.mcp_servers).toContainEqual({ fingerprint: 'fp30-fp-12', name: 's12', status: 'denied' });
    expect(snapshot.apps.some((a) => a.status === 'pending')).toBe(false);
    reporter.close();
    await gw.admin('PATCH', 'budgets', { inventory_apps: 512, inventory_mcp: 1024, catalog_items: 1000 });
  }, 180_000);
});

describe('device budgets', () => {
  it('refuses an inventory that would add more catalog items than the device may, and takes one within it', async () => {
    await gw.admin('PATCH', 'budgets', { catalog_items: 3 });
    const p = await connected('dev-catalog-budget');
    p.send({ type: 'inventory.apps', seq: 1, apps: apps('cb', 4) });
    const refused = await p.next('over_budget');
    expect(refused).toMatchObject({ budget: 'catalog_items', limit: 3, got: 4, seq: 1 });
    expect((await p.next('ack', (m) => m.seq === 1, { includeSeen: true })).seq).toBe(1);
    p.send({ type: 'inventory.apps', seq: 2, apps: apps('cb', 3) });
    await p.next('ack', (m) => m.seq === 2);
    expect(overBudget(p)).toHaveLength(1);
    const detail = (await gw.admin('GET', 'devices/dev-catalog-budget')).body;
    expect(detail.inventory.apps).toHaveLength(3);
    p.close();
    await gw.admin('PATCH', 'budgets', { catalog_items: 1000 });
  });

  it('stores events up to the rate and drops the rest with over_budget, acknowledging the whole batch', async () => {
    await gw.admin('PATCH', 'budgets', { events_burst: 5, events_per_minute: 1 });
    const p = await connected('dev-event-rate');
    const events = Array.from({ length: 8 }, (_, i) => ({ seq: i + 1, type: 'request', at: at(i), app: 'codex' }));
    p.send({ type: 'events', seq_from: 1, events });
    expect(await p.next('over_budget')).toMatchObject({ budget: 'events_per_minute', limit: 1, got: 3, seq: 8 });
    await p.next('ack', (m) => m.seq === 8, { includeSeen: true });
    const stored = (await gw.admin('GET', 'events?device=dev-event-rate&type=request')).body.events;
    expect(stored.map((e: { seq: number }) => e.seq).sort()).toEqual([1, 2, 3, 4, 5]);
    const admin = (await gw.admin('GET', 'events?device=dev-event-rate&type=budget.exceeded')).body.events;
    expect(admin[0].attrs).toMatchObject({ budget: 'events_per_minute', first_seq: 6, last_seq: 8 });
    p.close();
    await gw.admin('PATCH', 'budgets', { events_burst: 20_000, events_per_minute: 1200 });
  });

  it('refuses a message over the message_bytes budget without closing, and says so in settings', async () => {
    await gw.admin('PATCH', 'budgets', { message_bytes: 4096 });
    const p = new Peer(gw.wsUrl, await enrollChild(gw, 'dev-bytes'));
    await p.handshake('dev-bytes');
    expect(await p.next('settings', () => true, { includeSeen: true })).toMatchObject({ max_message_bytes: 4096 });
    p.send({ type: 'inventory.apps', seq: 1, apps: [{ app_id: 'big-path-1', path: `/${'x'.repeat(3000)}` }, { app_id: 'big-path-2', path: `/${'y'.repeat(3000)}` }] });
    expect(await p.next('over_budget')).toMatchObject({ budget: 'message_bytes', limit: 4096, seq: 1 });
    await p.next('ack', (m) => m.seq === 1, { includeSeen: true });
    expect(p.ws.readyState).toBe(p.ws.OPEN);
    p.close();
    await gw.admin('PATCH', 'budgets', { message_bytes: LIMITS.maxAgentMessageBytes });
  });

  it('names the accepted range when a budget setting is out of it', async () => {
    const r = await gw.admin('PATCH', 'budgets', { inventory_apps: 5000 });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe('inventory_apps: 5000 is not accepted; accepted: a whole number from 1 to 2048');
  });
});
