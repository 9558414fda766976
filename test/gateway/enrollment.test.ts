// Enrollment with a virtual key, and revocation cutting a device off: its live connection closes
// with 4403 and its next connect is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOSE_CODES, ENROLL_PATH, enrollResponseSchema } from '../../protocol/index.ts';
import { createKey, enroll, enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw.stop();
});

describe('enrollment', () => {
  it('returns a device token, the user and the control URL, and stores only hashes', async () => {
    const key = await createKey(gw, 'dana@example.com');
    const r = await enroll(gw, key.key, 'dev-enroll');
    expect(r.status).toBe(200);
    const body = enrollResponseSchema.parse(r.body);
    expect(body).toMatchObject({ device_id: 'dev-enroll', user: { email: 'dana@example.com' }, control_url: `${gw.wsUrl}` });
    expect(body.device_token).toMatch(/^hdt_/);
    const { readFileSync } = await import('node:fs');
    const db = readFileSync(`${gw.dataDir}/gateway.db`).toString('latin1') + readFileSync(`${gw.dataDir}/gateway.db-wal`).toString('latin1');
    expect(db).not.toContain(body.device_token);
    expect(db).not.toContain(key.key);
  });

  it('answers 401 for an unknown key and 400 naming the field for a bad body', async () => {
    expect((await enroll(gw, 'sk-bf-unknownunknownunknown', 'dev-x')).status).toBe(401);
    const res = await fetch(`${gw.url}${ENROLL_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ virtual_key: 'sk-bf-whatever-long', device: { device_id: 'd', hostname: 'h', os: 'plan9' }, os_user: 'a' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { field: string } }).error.field).toBe('device.os');
  });

  it('re-enrollment with the device key gives a new short-lived token that opens the channel', async () => {
    const key = await createKey(gw, 'erin@example.com');
    const first = (await enroll(gw, key.key, 'dev-reenroll')).body;
    const second = (await enroll(gw, key.key, 'dev-reenroll')).body;
    expect(second.device_token).not.toBe(first.device_token);
    expect(Date.parse(second.token_expires_at)).toBeGreaterThan(Date.now());
    const p = new Peer(gw.wsUrl, second.device_token);
    await p.handshake('dev-reenroll');
    p.close();
  });
});

describe('revocation', () => {
  it('revoking the device closes its connection with 4403 and refuses the next connect with 403', async () => {
    const { token } = await enrolledDevice(gw, 'dev-revoke');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('dev-revoke');
    expect((await gw.admin('POST', 'devices/dev-revoke/revoke')).status).toBe(200);
    expect((await peer.closed).code).toBe(CLOSE_CODES.revoked.code);
    await expect(new Peer(gw.wsUrl, token).opened).rejects.toMatchObject({ status: 403 });
    const key = await createKey(gw, 'again@example.com');
    expect((await enroll(gw, key.key, 'dev-revoke')).status).toBe(403);
  });

  it('revoking the virtual key stops inference and enrollment with it, and leaves the device connected', async () => {
    const { token, keyId, key } = await enrolledDevice(gw, 'dev-key-revoke');
    const peer = new Peer(gw.wsUrl, token);
    await peer.handshake('dev-key-revoke');
    await gw.admin('POST', `keys/${keyId}/revoke`);
    expect(await gw.control.verifyVirtualKey(key)).toBeUndefined();
    expect((await enroll(gw, key, 'dev-new')).status).toBe(401);
    // The device belongs to the organisation: its channel stays up (no close), its user is signed out.
    const pong = peer.next('pong');
    peer.send({ type: 'ping', id: 'x' });
    await pong;
    expect(await gw.store.deviceUsers('dev-key-revoke')).toEqual([]);
    peer.close();
  });

  it('a second connection of the same device supersedes the first (4409)', async () => {
    const { token } = await enrolledDevice(gw, 'dev-twice');
    const a = new Peer(gw.wsUrl, token);
    await a.handshake('dev-twice');
    const b = new Peer(gw.wsUrl, token);
    await b.handshake('dev-twice');
    expect((await a.closed).code).toBe(4409);
    expect(gw.hub.isConnected('dev-twice')).toBe(true);
    b.close();
  });
});
