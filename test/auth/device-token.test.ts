// The short-lived device token on the agent side, against a real gateway listener: login stores a
// 15-minute token, DeviceTokens keeps it while it has time left, renews it with a signed challenge
// near its end, and reports the gateway's refusal once the device is revoked. One ManualClock runs
// both sides, so expiry is reached by advancing it, never by waiting.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_MIGRATIONS, Credentials, DeviceTokens, FileDeviceKeyStore, login } from '../../agent/src/auth/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { ManualClock } from '../../lib/index.ts';
import { createKey, Peer, startTestGateway, type TestGateway } from '../gateway/helpers.ts';
import { throwawayVault } from '../helpers/vault.ts';

const clock = new ManualClock(Date.now());
let gw: TestGateway;
let dir: string;
let store: Store;
let credentials: Credentials;
let tokens: DeviceTokens;

beforeAll(async () => {
  gw = await startTestGateway({ clock });
  dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-device-token-'));
  store = new Store({ stateDir: path.join(dir, 'state'), logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
  credentials = new Credentials(store.db, throwawayVault());
  const deviceKeys = new FileDeviceKeyStore(path.join(dir, 'state'));
  tokens = new DeviceTokens({ credentials, deviceKeys, controlUrl: () => gw.url, clock, logger: silentLogger() });
  const key = await createKey(gw, 'tok@example.com');
  await login({ credentials, deviceKeys, controlUrl: gw.url, agentVersion: '0.1.0', logger: silentLogger() }, { osUser: 'alice', virtualKey: key.key });
});
afterAll(async () => {
  store.close();
  await gw.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('DeviceTokens', () => {
  it('keeps the enrolled token while it has time, renews it near its end, and the old one expires', async () => {
    const enrolled = credentials.enrollment()!;
    expect(Date.parse(enrolled.tokenExpiresAt!) - clock.now()).toBe(15 * 60_000);
    expect(await tokens.fresh()).toBe(enrolled.deviceToken);
    expect(tokens.current()).toBe(enrolled.deviceToken);

    clock.advance(14 * 60_000);
    const renewed = await tokens.fresh();
    expect(renewed).not.toBe(enrolled.deviceToken);
    expect(credentials.enrollment()).toMatchObject({ deviceToken: renewed, tokenExpiresAt: new Date(clock.now() + 15 * 60_000).toISOString() });
    const peer = new Peer(gw.wsUrl, renewed);
    await peer.handshake(credentials.deviceId());
    peer.close();

    clock.advance(2 * 60_000);
    await expect(new Peer(gw.wsUrl, enrolled.deviceToken).opened).rejects.toMatchObject({ status: 401 });
  });

  it('reports the gateway refusing a revoked device as rejected (403)', async () => {
    await gw.admin('POST', `devices/${credentials.deviceId()}/revoke`);
    await expect(tokens.fresh({ force: true })).rejects.toMatchObject({ code: 'rejected', status: 403 });
  });
});
