// Builds the agent side of the sync tests from real parts: a real store file in a temp dir with the
// auth and sync migrations, real Credentials, a real Outbox and a SyncClient; only the policy room is
// stood in for by a recording applyPolicy (the sync client takes it as a dependency by design).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AUTH_MIGRATIONS, Credentials, collectDeviceFacts } from '../../agent/src/auth/index.ts';
import { silentLogger, type Logger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS, SyncClient, type ApplyPolicyResult, type SyncClientOptions } from '../../agent/src/sync/index.ts';
import type { PolicySnapshot } from '../../protocol/index.ts';

export interface AgentHarness {
  dir: string;
  store: Store;
  credentials: Credentials;
  outbox: Outbox;
  client: SyncClient;
  applied: PolicySnapshot[];
  /** Set to make the next applyPolicy calls fail with this error. */
  rejectWith: { error: string | undefined };
  close(): Promise<void>;
}

export interface HarnessOptions {
  controlUrl: string;
  token?: string;
  dir?: string;
  logger?: Logger;
  outboxMaxRows?: number;
  client?: Partial<SyncClientOptions>;
  osUsers?: string[];
}

export function makeAgent(options: HarnessOptions): AgentHarness {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'heimdall-sync-'));
  const logger = options.logger ?? silentLogger();
  const store = new Store({ stateDir: path.join(dir, 'state'), logger, migrations: [AUTH_MIGRATIONS, SYNC_MIGRATIONS] });
  const credentials = new Credentials(store.db);
  if (options.token !== undefined) {
    for (const osUser of options.osUsers ?? ['alice']) {
      credentials.saveEnrollment({ deviceToken: options.token, controlUrl: options.controlUrl, osUser, virtualKey: 'sk-bf-test-key-0000', userId: `user-${osUser}`, email: `${osUser}@example.com` });
    }
  }
  const outbox = new Outbox({ db: store.db, logger, ...(options.outboxMaxRows !== undefined ? { maxRows: options.outboxMaxRows } : {}) });
  const applied: PolicySnapshot[] = [];
  const rejectWith: { error: string | undefined } = { error: undefined };
  const deviceId = credentials.deviceId();
  const client = new SyncClient({
    controlUrl: () => options.controlUrl,
    credentials,
    outbox,
    db: store.db,
    deviceFacts: () => collectDeviceFacts({ deviceId, agentVersion: '0.1.0-test' }),
    applyPolicy: (snapshot): ApplyPolicyResult => {
      if (rejectWith.error !== undefined) return { ok: false, error: rejectWith.error };
      applied.push(snapshot);
      return { ok: true };
    },
    logger,
    backoff: { baseMs: 50, capMs: 400, floorMs: 5 },
    stableAfterMs: 200,
    ...options.client,
  });
  return {
    dir,
    store,
    credentials,
    outbox,
    client,
    applied,
    rejectWith,
    close: async () => {
      await client.stop();
      store.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function auditEvent(i: number, type = 'request') {
  return { type, at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i)).toISOString(), app: 'claude-code', os_user: 'alice', attrs: { i, route: '/anthropic/v1/messages' } };
}
