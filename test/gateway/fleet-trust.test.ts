// The fleet-trust attacks (issue 15: 1, 3, 4, 6), each performed against a real `heimdall-gateway run`
// process by a client holding only what the attacker holds (a virtual key, its own device key, a
// device token); each test passes only when the attack fails.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { createLeafCsr, generateRsaKeyPair } from '../../lib/index.ts';
import { DEVICE_TOKEN_HEADER } from '../../protocol/index.ts';
import { startGatewayChild, type GatewayChild } from './gateway-process.ts';
import { at, deviceKeyFor, enroll, newDeviceKey, Peer, renewToken } from './helpers.ts';

const PROVIDER_KEY = 'sk-demo-org-key';
let gw: GatewayChild;
let upstream: DemoUpstream;

beforeAll(async () => {
  upstream = await startDemoUpstream({ keys: { openai: [PROVIDER_KEY] }, chunkDelayMs: 0 });
  gw = await startGatewayChild({
    inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.HEIMDALL_TEST_OPENAI_KEY' } } },
    env: { HEIMDALL_TEST_OPENAI_KEY: PROVIDER_KEY },
  });
});
afterAll(async () => {
  await gw.stop();
  await upstream.close();
});

async function keyFor(email: string): Promise<{ id: string; key: string }> {
  const r = await gw.admin('POST', 'keys', { user_email: email });
  expect(r.status).toBe(201);
  return r.body;
}

async function enrolled(email: string, deviceId: string, osUser: string): Promise<{ token: string; key: { id: string; key: string } }> {
  const key = await keyFor(email);
  const r = await enroll(gw, key.key, deviceId, osUser);
  expect(r.status).toBe(200);
  return { token: r.body.device_token, key };
}

const chat = (headers: Record<string, string>) =>
  fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (res) => ({ status: res.status, body: await res.text() }));

async function inferenceEvents(): Promise<any[]> {
  return (await gw.admin('GET', 'events?type=inference&limit=100')).body.events;
}

const server = (fingerprint: string) => ({
  app: 'claude-code', scope: 'user', config_path: '/home/a/.claude.json', name: 'github', transport: 'stdio', fingerprint,
  command: 'npx', args: ['-y', 'server-github'], env_keys: [], header_keys: [], os_user: 'a',
});

describe('attack 1: a virtual key cannot take over another device id', () => {
  it("refuses user B's key enrolling A's device id, and B cannot inject events or inventory under A", async () => {
    const a = await enrolled('a1@corp.example', 'dev-a1', 'a');
    const pa = new Peer(gw.wsUrl, a.token);
    await pa.handshake('dev-a1', { outbox_stream: 'a1' });
    pa.send({ type: 'inventory.mcp', seq: 1, servers: [server('fp-a1-github')], errors: [] });
    await pa.next('ack', (m) => m.seq === 1);
    pa.close();
    await pa.closed;

    // B has a valid key of their own and makes their own device key: A's id is bound to A's key.
    const b = await keyFor('b1@corp.example');
    const bKey = newDeviceKey();
    const takeover = await enroll(gw, b.key, 'dev-a1', 'b', bKey);
    expect(takeover.status).toBe(409);
    expect(takeover.body.error.field).toBe('device.device_id');
    // Claiming A's public key without A's private key fails the signature check.
    const claimed = await enroll(gw, b.key, 'dev-a1', 'b', { publicKey: deviceKeyFor('dev-a1').publicKey, privateKey: bKey.privateKey });
    expect(claimed.status).toBe(401);
    expect(claimed.body.error.field).toBe('device_key.signature');
    // Nor can B mint a token for A's id with B's key.
    expect((await renewToken(gw, 'dev-a1', bKey)).status).toBe(401);

    // B's own device token cannot speak for A: hello naming A's id is closed 4401.
    const bDevice = await enroll(gw, b.key, 'dev-b1', 'b', bKey);
    const pb = new Peer(gw.wsUrl, bDevice.body.device_token);
    await pb.opened;
    pb.send({ type: 'hello', device_id: 'dev-a1', hostname: 'x', os: 'linux', os_version: '1', arch: 'x64', agent_version: '0', users: [], policy_version: null, outbox_stream: 'b1', outbox_first_seq: null });
    expect((await pb.closed).code).toBe(4401);

    const device = (await gw.admin('GET', 'devices/dev-a1')).body;
    expect(device.owner.email).toBe('a1@corp.example');
    expect(device.inventory.mcp_servers.map((s: any) => s.fingerprint)).toEqual(['fp-a1-github']);
  });
});

describe('attack 4: revocation revokes', () => {
  it('a revoked device gets 403 on inference and sync, cannot renew, and cannot re-enroll by id, by key, or with the keys it held', async () => {
    const r = await enrolled('r4@corp.example', 'dev-r4', 'r');
    const before = await chat({ authorization: `Bearer ${r.key.key}`, [DEVICE_TOKEN_HEADER]: r.token });
    expect(before.status).toBe(200);
    const peer = new Peer(gw.wsUrl, r.token);
    await peer.handshake('dev-r4');

    const revoked = await gw.admin('POST', 'devices/dev-r4/revoke');
    expect(revoked.body.revoked_key_ids).toEqual([r.key.id]);
    // The live session ends at once (4403), before any policy push.
    expect((await peer.closed).code).toBe(4403);
    expect((await chat({ authorization: `Bearer ${r.key.key}`, [DEVICE_TOKEN_HEADER]: r.token })).status).toBe(403);
    // Dropping the device header does not help: the keys that were on the device are revoked with it.
    expect((await chat({ authorization: `Bearer ${r.key.key}` })).status).toBe(401);
    await expect(new Peer(gw.wsUrl, r.token).opened).rejects.toMatchObject({ status: 403 });
    expect((await renewToken(gw, 'dev-r4')).status).toBe(403);

    // A new key for the same person does not bring the device back, by id or by device key.
    const fresh = await keyFor('r4@corp.example');
    expect((await enroll(gw, fresh.key, 'dev-r4', 'r')).status).toBe(403);
    expect((await enroll(gw, fresh.key, 'dev-r4-renamed', 'r', deviceKeyFor('dev-r4'))).status).toBe(403);
    // A new id with a new key pair needs a virtual key: the one the device held is revoked.
    expect((await enroll(gw, r.key.key, 'dev-r4-new', 'r', newDeviceKey())).status).toBe(401);

    // The administrator's reset is the way back: the id binds a new key.
    expect((await gw.admin('POST', 'devices/dev-r4/reset')).status).toBe(200);
    const back = await enroll(gw, fresh.key, 'dev-r4', 'r', newDeviceKey());
    expect(back.status).toBe(200);
  });

  it('ignores client x-bf-dim-* headers: the device is the one its token proves, the app its claim', async () => {
    const v = await enrolled('v4@corp.example', 'dev-v4', 'v');
    const m = await enrolled('m4@corp.example', 'dev-m4', 'm');
    // No device token: the claimed device and app are not recorded at all.
    expect((await chat({ authorization: `Bearer ${m.key.key}`, 'x-bf-dim-device': 'dev-v4', 'x-bf-dim-app': 'spoofed-app' })).status).toBe(200);
    // A device token of dev-m4 with headers naming dev-v4: recorded under dev-m4.
    expect((await chat({ authorization: `Bearer ${m.key.key}`, [DEVICE_TOKEN_HEADER]: m.token, 'x-bf-dim-device': 'dev-v4', 'x-bf-dim-app': 'codex' })).status).toBe(200);
    // A forged device token is refused, not ignored.
    expect((await chat({ authorization: `Bearer ${m.key.key}`, [DEVICE_TOKEN_HEADER]: 'hdt_forged-forged-forged-forged' })).status).toBe(401);
    const events = await vi.waitFor(
      async () => {
        const list = (await inferenceEvents()).filter((e) => e.user_email === 'm4@corp.example');
        expect(list).toHaveLength(2);
        return list;
      },
      { timeout: 5000, interval: 50 },
    );
    const [withToken, bare] = events;
    expect(bare).toMatchObject({ device_id: null, app: null });
    expect(withToken).toMatchObject({ device_id: 'dev-m4', app: 'codex' });
    expect(withToken.attrs.app_source).toBe('claimed_by_device');
    expect((await inferenceEvents()).some((e) => e.device_id === 'dev-v4')).toBe(false);
    expect(v.token).not.toBe(m.token);
  });
});

describe('attack 6: a shared machine belongs to the organisation', () => {
  it("a second user's sign-in keeps the owner; revoking user 2's key leaves user 1's sync and inference working", async () => {
    const one = await enrolled('one6@corp.example', 'dev-s6', 'one');
    const two = await enrolled('two6@corp.example', 'dev-s6', 'two');
    expect((await gw.admin('GET', 'devices/dev-s6')).body.owner.email).toBe('one6@corp.example');

    const peer = new Peer(gw.wsUrl, two.token);
    await peer.handshake('dev-s6', { outbox_stream: 's6', users: [{ os_user: 'one' }, { os_user: 'two' }] });
    expect((await gw.admin('POST', `keys/${two.key.id}/revoke`)).status).toBe(200);
    expect((await gw.admin('GET', 'devices/dev-s6')).body).toMatchObject({ owner: { email: 'one6@corp.example' }, revoked_at: null });

    // The channel opened with the token issued at user 2's sign-in stays up and ingests user 1's events.
    const ack = peer.next('ack', (m) => m.seq === 1);
    peer.send({ type: 'events', seq_from: 1, events: [{ seq: 1, type: 'request', at: at(1), app: 'claude-code', os_user: 'one', attrs: { status: 200 } }] });
    expect((await ack).seq).toBe(1);
    peer.close();
    await peer.closed;
    // The device renews its token and reconnects: nothing about it was revoked.
    const renewed = await renewToken(gw, 'dev-s6');
    expect(renewed.status).toBe(200);
    const again = new Peer(gw.wsUrl, renewed.body.device_token);
    await again.handshake('dev-s6', { outbox_stream: 's6' });
    again.close();

    const events = (await gw.admin('GET', 'events?device=dev-s6')).body.events;
    expect(events.find((e: any) => e.seq === 1)).toMatchObject({ os_user: 'one', user_email: 'one6@corp.example' });
    expect((await chat({ authorization: `Bearer ${one.key.key}`, [DEVICE_TOKEN_HEADER]: renewed.body.device_token })).status).toBe(200);
    expect((await chat({ authorization: `Bearer ${two.key.key}`, [DEVICE_TOKEN_HEADER]: renewed.body.device_token })).status).toBe(401);
  });
});

describe('attack 3: the gateway-held CA signs only for proven devices and intercepted hosts', () => {
  it('an invented device id gets no token and no channel; a real device gets short leaves for intercepted hosts only', async () => {
    expect((await gw.admin('POST', 'ca/generate', {})).status).toBe(201);
    // Invented id: no key is bound to it, so no token; a made-up token opens nothing.
    expect((await renewToken(gw, 'dev-invented-3', newDeviceKey())).status).toBe(401);
    await expect(new Peer(gw.wsUrl, 'hdt_invented-invented-invented-invented').opened).rejects.toMatchObject({ status: 401 });

    const d = await enrolled('d3@corp.example', 'dev-d3', 'd');
    const peer = new Peer(gw.wsUrl, d.token);
    await peer.handshake('dev-d3');
    const keys = await generateRsaKeyPair();
    for (const [id, host] of [['c1', 'login.chatgpt.com'], ['c2', 'files.api.openai.com'], ['c3', 'www.bank.example']] as const) {
      peer.send({ type: 'cert.sign', id, csr_pem: createLeafCsr([host], keys), hosts: [host] });
      expect(await peer.next('cert', (m) => m.id === id)).toMatchObject({ ok: false, error: { code: 'host_not_permitted' } });
    }
    peer.send({ type: 'cert.sign', id: 'c4', csr_pem: createLeafCsr(['api.openai.com'], keys), hosts: ['api.openai.com'] });
    const cert = await peer.next('cert', (m) => m.id === 'c4');
    if (!cert.ok) throw new Error(`signing failed: ${cert.error.message}`);
    const leaf = new X509Certificate(cert.cert_pem);
    expect((Date.parse(leaf.validTo) - Date.now()) / 86_400_000).toBeLessThanOrEqual(3);

    // Once revoked, the device's session ends; it cannot come back to ask again.
    await gw.admin('POST', 'devices/dev-d3/revoke');
    expect((await peer.closed).code).toBe(4403);
    await expect(new Peer(gw.wsUrl, d.token).opened).rejects.toMatchObject({ status: 403 });
  });
});
