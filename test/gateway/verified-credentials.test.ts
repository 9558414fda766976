// The inference path keeps the virtual keys and device tokens it verified (issue 22: a store read per
// credential per request was half the handler's time). The attacks: a revoked key, a revoked or reset
// device, a token past its expiry, or a revocation made where this replica did not see it, still served
// from that cache. Real gateway, real SQLite, real sockets; time from a ManualClock.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import { startDemoUpstream, type DemoUpstream } from '../../gateway/src/demo-upstream/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { ControlPlane } from '../../gateway/src/control/index.ts';
import { VERIFIED_CREDENTIAL_MAX_AGE_MS } from '../../gateway/src/control/verified-credentials.ts';
import { DEVICE_TOKEN_HEADER, TIMING } from '../../protocol/index.ts';
import type { GatewayStore, VirtualKeyRecord } from '../../gateway/src/store/index.ts';
import { createKey, enroll, startTestGateway, type TestGateway } from './helpers.ts';

let gw: TestGateway;
let upstream: DemoUpstream;
const clock = new ManualClock(Date.now());
const PROVIDER_KEY = 'sk-demo-org-key-cache';

beforeAll(async () => {
  upstream = await startDemoUpstream({ keys: { openai: [PROVIDER_KEY] }, chunkDelayMs: 0 });
  process.env['HEIMDALL_TEST_CACHE_OPENAI_KEY'] = PROVIDER_KEY;
  gw = await startTestGateway({
    clock,
    config: { ...EMPTY_CONFIG, inference: { providers: { openai: { base_url: upstream.url, api_key: 'env.HEIMDALL_TEST_CACHE_OPENAI_KEY' } } }, source: 'test config' },
  });
});
afterAll(async () => {
  await gw.stop();
  await upstream.close();
});

async function chat(auth: Record<string, string>): Promise<{ status: number; message: string }> {
  const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await res.text();
  return { status: res.status, message: res.status === 200 ? '' : String((JSON.parse(text) as { error: { message: string } }).error.message) };
}

/** Serves a few requests first, so the credentials are verified and kept before the attack. */
async function served(auth: Record<string, string>): Promise<void> {
  for (let i = 0; i < 3; i++) expect((await chat(auth)).status).toBe(200);
}

describe('verified credentials on the inference path', () => {
  it('refuses a revoked virtual key at its very next request, however often it was served before', async () => {
    const key = await createKey(gw, 'cache-revoke@example.com');
    await served({ authorization: `Bearer ${key.key}` });
    expect((await gw.admin('POST', `keys/${key.id}/revoke`)).status).toBe(200);
    const next = await chat({ authorization: `Bearer ${key.key}` });
    expect(next.status).toBe(401);
    expect(next.message).toContain('revoked');
  });

  it('refuses a revoked device (403) at its very next request, even with a key that still works', async () => {
    const key = await createKey(gw, 'cache-device@example.com');
    const other = await createKey(gw, 'cache-device-other@example.com');
    const device = (await enroll(gw, key.key, 'dev-cache-revoked')).body as { device_token: string };
    await served({ authorization: `Bearer ${other.key}`, [DEVICE_TOKEN_HEADER]: device.device_token });
    expect((await gw.admin('POST', 'devices/dev-cache-revoked/revoke')).status).toBe(200);
    const next = await chat({ authorization: `Bearer ${other.key}`, [DEVICE_TOKEN_HEADER]: device.device_token });
    expect(next.status).toBe(403);
    expect(next.message).toContain('revoked');
    expect((await chat({ authorization: `Bearer ${other.key}` })).status).toBe(200);
  });

  it("refuses a reset device's token (401) at its very next request", async () => {
    const key = await createKey(gw, 'cache-reset@example.com');
    const device = (await enroll(gw, key.key, 'dev-cache-reset')).body as { device_token: string };
    await served({ authorization: `Bearer ${key.key}`, [DEVICE_TOKEN_HEADER]: device.device_token });
    expect((await gw.admin('POST', 'devices/dev-cache-reset/reset')).status).toBe(200);
    expect((await chat({ authorization: `Bearer ${key.key}`, [DEVICE_TOKEN_HEADER]: device.device_token })).status).toBe(401);
  });

  it('refuses a device token once it expires, though it was verified and kept before', async () => {
    const key = await createKey(gw, 'cache-expiry@example.com');
    const device = (await enroll(gw, key.key, 'dev-cache-expiry')).body as { device_token: string };
    await served({ authorization: `Bearer ${key.key}`, [DEVICE_TOKEN_HEADER]: device.device_token });
    // Within the cache's age but past the token's own end: the token's end wins.
    clock.advance(TIMING.deviceTokenTtlS * 1000 - 1);
    expect((await chat({ authorization: `Bearer ${key.key}`, [DEVICE_TOKEN_HEADER]: device.device_token })).status).toBe(200);
    clock.advance(1);
    const next = await chat({ authorization: `Bearer ${key.key}`, [DEVICE_TOKEN_HEADER]: device.device_token });
    expect(next.status).toBe(401);
    expect(next.message).toContain('expired');
  });

  it('sees a revocation it was not told about (another replica, a database edit) once the kept answer is older than its age limit', async () => {
    const key = await createKey(gw, 'cache-elsewhere@example.com');
    await served({ authorization: `Bearer ${key.key}` });
    // Revoked in the store only, as another replica does before its event arrives here.
    await gw.store.revokeVirtualKey(key.id);
    clock.advance(VERIFIED_CREDENTIAL_MAX_AGE_MS);
    expect((await chat({ authorization: `Bearer ${key.key}` })).status).toBe(401);
  });

  it('forgets every verified credential on a `credentials` event, as one from another replica', async () => {
    const key = await createKey(gw, 'cache-event@example.com');
    await served({ authorization: `Bearer ${key.key}` });
    await gw.store.revokeVirtualKey(key.id);
    const events: string[] = [];
    const stop = gw.control.onEvent((e) => events.push(e.type));
    await gw.control.credentialsChanged();
    stop();
    expect(events).toEqual(['credentials']);
    expect((await chat({ authorization: `Bearer ${key.key}` })).status).toBe(401);
  });
});

describe('a verification that raced a revocation', () => {
  it('is not kept: the next request reads the store again and is refused', async () => {
    const record: VirtualKeyRecord = {
      id: 'vk-race',
      userId: 'user-race',
      userEmail: 'race@example.com',
      name: null,
      prefix: 'sk-bf-race',
      createdAt: new Date().toISOString(),
      revokedAt: null,
      lastUsedAt: null,
    };
    let revoked = false;
    let releaseRead: (() => void) | undefined;
    // A store whose key read is answered from before the revocation but arrives after it (a slow
    // PostgreSQL read racing an administrator's revoke on another connection).
    const store = {
      findVirtualKeyByHash: async () => {
        const snapshot = revoked ? { ...record, revokedAt: new Date().toISOString() } : { ...record };
        if (!revoked) await new Promise<void>((resolve) => (releaseRead = resolve));
        return snapshot;
      },
      touchVirtualKey: () => Promise.resolve(),
    } as unknown as GatewayStore;
    const control = new ControlPlane({ store, logger: silentLogger() });
    const key = 'sk-bf-race-0123456789abcdef';
    const inFlight = control.verifyVirtualKey(key);
    await new Promise<void>((resolve) => setImmediate(resolve));
    revoked = true;
    void control.credentialsChanged();
    releaseRead!();
    // Read before the revocation: this request itself is admitted, as it would have been a moment earlier.
    expect(await inFlight).toMatchObject({ keyId: 'vk-race' });
    expect(await control.verifyVirtualKey(key)).toBeUndefined();
  });
});
