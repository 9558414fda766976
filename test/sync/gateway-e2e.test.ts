// End to end on loopback with the REAL reference gateway (in-process) and the REAL policy room:
// enrollment with a virtual key, policy down, events up, gateway restart, device revocation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { AUTH_MIGRATIONS, Credentials, FileDeviceKeyStore, collectDeviceFacts, login } from '../../agent/src/auth/index.ts';
import { createLogger } from '../../agent/src/lib/logger.ts';
import { POLICY_MIGRATIONS, PolicyEngine } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS, SyncClient } from '../../agent/src/sync/index.ts';
import { createKey, startTestGateway, type TestGateway } from '../gateway/helpers.ts';
import { auditEvent } from './agent-harness.ts';
import { waitFor } from './protocol-test-server.ts';
import { throwawayVault } from '../helpers/vault.ts';

describe('agent sync with the reference gateway', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-e2e-sync-'));
  const gwDir = path.join(dir, 'gateway');
  let gw: TestGateway;
  let store: Store;
  let client: SyncClient;
  let engine: PolicyEngine;
  let outbox: Outbox;
  let credentials: Credentials;
  let virtualKey: string;
  let logText = '';

  beforeAll(async () => {
    gw = await startTestGateway({ dataDir: gwDir });
    virtualKey = (await createKey(gw, 'alice@example.com')).key;
    const logger = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk: Buffer, _enc, cb) {
          logText += chunk.toString();
          cb();
        },
      }),
    });
    store = new Store({ stateDir: path.join(dir, 'agent'), logger, migrations: [AUTH_MIGRATIONS, SYNC_MIGRATIONS, POLICY_MIGRATIONS] });
    credentials = new Credentials(store.db, throwawayVault());
    engine = new PolicyEngine({ db: store.db, logger });
    outbox = new Outbox({ db: store.db, logger });
    const deviceId = credentials.deviceId();
    client = new SyncClient({
      controlUrl: () => gw.url,
      credentials,
      outbox,
      db: store.db,
      deviceFacts: () => collectDeviceFacts({ deviceId, agentVersion: '0.1.0' }),
      // As the daemon wires it: the policy room itself, which owns the version and stale checks.
      policy: engine,
      logger,
      backoff: { baseMs: 50, capMs: 500, floorMs: 10 },
      stableAfterMs: 200,
    });
  });

  afterAll(async () => {
    await client.stop();
    store.close();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('enrolls with the virtual key, connects, and applies the gateway policy', async () => {
    const result = await login({ credentials, deviceKeys: new FileDeviceKeyStore(dir), controlUrl: gw.url, agentVersion: '0.1.0', logger: createLogger({ level: 'silent' }) }, { osUser: 'alice', virtualKey });
    expect(result.user.email).toBe('alice@example.com');
    expect(result.deviceId).toBe(credentials.deviceId());
    client.start();
    await waitFor(() => engine.version() !== null && client.status().state === 'connected', 'policy applied');
    expect(client.status().policy_version).toBe(await gw.control.policyVersion());
    const devices = (await gw.admin('GET', 'devices')).body.devices as { id: string; connected: boolean; hostname: string }[];
    expect(devices.find((d) => d.id === credentials.deviceId())).toMatchObject({ connected: true, hostname: os.hostname() });
  });

  it('receives an admin decision as a new policy', async () => {
    const before = engine.version()!;
    await gw.admin('POST', 'apps/codex-cli/decision', { status: 'denied' });
    await waitFor(() => (engine.version() ?? 0) > before, 'pushed policy');
    expect(engine.current()?.apps.find((a) => a.id === 'codex-cli')?.status).toBe('denied');
    expect(client.status().policy_version).toBe(engine.version());
  });

  it('delivers every event exactly once across a gateway restart, keeping the policy meanwhile', async () => {
    const deviceId = credentials.deviceId();
    const countStored = async () => {
      const r = await gw.admin('GET', `events?device=${deviceId}&type=request&limit=1000`);
      return r.body.events as { seq: number; attrs: { i: number } }[];
    };
    for (let i = 0; i < 40; i++) outbox.enqueue(auditEvent(i));
    await waitFor(() => outbox.depth().rows === 0, 'first events acknowledged');
    expect(await countStored()).toHaveLength(40);

    const port = gw.port;
    const policyVersion = engine.version();
    await gw.close();
    for (let i = 40; i < 160; i++) outbox.enqueue(auditEvent(i));
    await waitFor(() => client.status().state === 'backoff', 'backing off');
    expect(outbox.depth().rows).toBe(120);
    expect(engine.version()).toBe(policyVersion);

    gw = await startTestGateway({ dataDir: gwDir, port });
    await waitFor(() => outbox.depth().rows === 0, 'outbox drained after restart', 20_000);
    const stored = await countStored();
    expect(stored).toHaveLength(160);
    expect(new Set(stored.map((e) => e.seq)).size).toBe(160);
    expect(new Set(stored.map((e) => e.attrs.i)).size).toBe(160);
  });

  it('drops an inventory over the device budget from its outbox without reconnecting, and says why in status', async () => {
    await waitFor(() => client.status().state === 'connected', 'connected');
    const connects = () => logText.split('sync channel connected').length;
    const before = connects();
    expect((await gw.admin('PATCH', 'budgets', { inventory_apps: 2 })).status).toBe(200);
    outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'a-1' }, { app_id: 'a-2' }, { app_id: 'a-3' }] });
    await waitFor(() => outbox.depth().rows === 0, 'over-budget inventory acknowledged');
    expect(client.status().last_error).toContain("the gateway refused a message over this device's inventory_apps budget (3 > 2)");
    expect(logText).toContain('message over the device budget; the gateway dropped it');
    // The channel goes on: a report within the budget is stored on the same connection.
    outbox.enqueueInventory({ type: 'inventory.apps', apps: [{ app_id: 'a-1' }] });
    await waitFor(() => outbox.depth().rows === 0, 'inventory within budget acknowledged');
    const detail = (await gw.admin('GET', `devices/${credentials.deviceId()}`)).body as { inventory: { apps: { app_id: string }[] } };
    expect(detail.inventory.apps.map((a) => a.app_id)).toEqual(['a-1']);
    expect(connects()).toBe(before);
    expect(client.status().state).toBe('connected');
    await gw.admin('PATCH', 'budgets', { inventory_apps: 512 });
  });

  it('stops with a revoked state when the admin revokes the device, and the secrets never reach the log', async () => {
    await waitFor(() => client.status().state === 'connected', 'connected');
    await gw.admin('POST', `devices/${credentials.deviceId()}/revoke`);
    await waitFor(() => client.status().state === 'revoked', 'revoked');
    expect(client.status().last_error).toMatch(/heimdall login/);
    expect(logText).not.toContain(virtualKey);
    expect(logText.length).toBeGreaterThan(0);
    expect(logText).not.toMatch(/hdt_[A-Za-z0-9_-]{20,}/); // device tokens
  });
});
