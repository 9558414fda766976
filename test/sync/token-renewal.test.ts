// The sync client with short-lived device tokens against the REAL reference gateway: when the
// gateway answers the upgrade 401 because the token it issued has expired (the gateway's clock is
// advanced past the token's 15 minutes), the client renews the token with a signed challenge and
// connects, instead of concluding that the device was revoked; a revoked device does stay revoked.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH_MIGRATIONS, Credentials, DeviceTokens, FileDeviceKeyStore, collectDeviceFacts, login } from '../../agent/src/auth/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { POLICY_MIGRATIONS, PolicyEngine } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS, SyncClient } from '../../agent/src/sync/index.ts';
import { ManualClock } from '../../lib/index.ts';
import { createKey, startTestGateway, type TestGateway } from '../gateway/helpers.ts';
import { waitFor } from './protocol-test-server.ts';
import { throwawayVault } from '../helpers/vault.ts';

describe('sync client with expiring device tokens', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-sync-token-'));
  const gatewayClock = new ManualClock(Date.now());
  let gw: TestGateway;
  let store: Store;
  let client: SyncClient;
  let credentials: Credentials;

  beforeAll(async () => {
    gw = await startTestGateway({ dataDir: path.join(dir, 'gateway'), clock: gatewayClock });
    const logger = silentLogger();
    store = new Store({ stateDir: path.join(dir, 'agent'), logger, migrations: [AUTH_MIGRATIONS, SYNC_MIGRATIONS, POLICY_MIGRATIONS] });
    credentials = new Credentials(store.db, throwawayVault());
    const deviceKeys = new FileDeviceKeyStore(path.join(dir, 'agent'));
    const deviceId = credentials.deviceId();
    await login({ credentials, deviceKeys, controlUrl: gw.url, agentVersion: '0.1.0', logger }, { osUser: 'alice', virtualKey: (await createKey(gw, 'alice@example.com')).key });
    client = new SyncClient({
      controlUrl: () => gw.url,
      credentials,
      // The agent's own clock says the token is fresh; only the gateway knows it has expired.
      tokens: new DeviceTokens({ credentials, deviceKeys, controlUrl: () => gw.url, logger }),
      outbox: new Outbox({ db: store.db, logger }),
      db: store.db,
      deviceFacts: () => collectDeviceFacts({ deviceId, agentVersion: '0.1.0' }),
      policy: new PolicyEngine({ db: store.db, logger }),
      logger,
      backoff: { baseMs: 20, capMs: 100, floorMs: 5 },
      stableAfterMs: 200,
    });
  });
  afterAll(async () => {
    await client.stop();
    store.close();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renews an expired token after the 401 and connects with the new one', async () => {
    const enrolled = credentials.enrollment()!.deviceToken;
    gatewayClock.advance(16 * 60_000);
    client.start();
    await waitFor(() => client.status().state === 'connected', 'connected after renewal');
    expect(credentials.enrollment()!.deviceToken).not.toBe(enrolled);
    expect(credentials.revokedAt()).toBeUndefined();
  });

  it('ends the session of a revoked device (4403) and stays revoked instead of renewing', async () => {
    gatewayClock.advance(16 * 60_000);
    await gw.admin('POST', `devices/${credentials.deviceId()}/revoke`);
    await waitFor(() => client.status().state === 'revoked', 'revoked');
    expect(credentials.enrollment()).toBeUndefined();
  });
});
