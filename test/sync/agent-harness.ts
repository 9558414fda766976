// Builds the agent side of the sync tests from real parts: a real store file in a temp dir with the
// auth, policy and sync migrations, real Credentials, a real Outbox, the real policy room
// (PolicyEngine) and a SyncClient on a ManualClock. Only a rejection by the policy room is stood in
// for (`rejectWith`): the protocol schema and the policy schema are the same, so a real one cannot
// be provoked from the wire.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AUTH_MIGRATIONS, Credentials, collectDeviceFacts } from '../../agent/src/auth/index.ts';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { silentLogger, type Logger } from '../../agent/src/lib/logger.ts';
import { POLICY_MIGRATIONS, PolicyEngine } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS, SyncClient, type SyncClientOptions } from '../../agent/src/sync/index.ts';
import type { PolicySnapshot } from '../../protocol/index.ts';
import { throwawayVault } from '../helpers/vault.ts';

export interface AgentHarness {
  dir: string;
  store: Store;
  credentials: Credentials;
  outbox: Outbox;
  policy: PolicyEngine;
  client: SyncClient;
  clock: ManualClock;
  /** Snapshots the policy room put in force, in order. */
  applied: PolicySnapshot[];
  /** Set to make the policy room refuse the next snapshots with this error. */
  rejectWith: { error: string | undefined };
  /** Rows of `type` in the outbox now (events the agent queued and the gateway has not acked). */
  queued(type: string): number;
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
  /** Shared by a fleet of agents in one test. */
  clock?: ManualClock;
}

export const HARNESS_BACKOFF = { baseMs: 50, capMs: 400, floorMs: 5 };

export function makeAgent(options: HarnessOptions): AgentHarness {
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'heimdall-sync-'));
  const logger = options.logger ?? silentLogger();
  const clock = options.clock ?? new ManualClock(Date.now());
  const store = new Store({ stateDir: path.join(dir, 'state'), logger, migrations: [AUTH_MIGRATIONS, POLICY_MIGRATIONS, SYNC_MIGRATIONS] });
  const credentials = new Credentials(store.db, throwawayVault());
  if (options.token !== undefined) {
    for (const osUser of options.osUsers ?? ['alice']) {
      credentials.saveEnrollment({ deviceToken: options.token, controlUrl: options.controlUrl, osUser, virtualKey: 'sk-bf-test-key-0000', userId: `user-${osUser}`, email: `${osUser}@example.com` });
    }
  }
  const outbox = new Outbox({ db: store.db, logger, ...(options.outboxMaxRows !== undefined ? { maxRows: options.outboxMaxRows } : {}) });
  const policy = new PolicyEngine({ db: store.db, logger, clock: () => new Date(clock.now()) });
  const applied: PolicySnapshot[] = [];
  policy.on('change', (change) => applied.push(change.snapshot));
  const rejectWith: { error: string | undefined } = { error: undefined };
  const deviceId = credentials.deviceId();
  const client = new SyncClient({
    controlUrl: () => options.controlUrl,
    credentials,
    outbox,
    db: store.db,
    deviceFacts: () => collectDeviceFacts({ deviceId, agentVersion: '0.1.0-test' }),
    policy: {
      version: () => policy.version(),
      offerPolicySnapshot: (snapshot) => (rejectWith.error !== undefined ? { outcome: 'rejected', error: rejectWith.error } : policy.offerPolicySnapshot(snapshot)),
    },
    logger,
    clock,
    backoff: HARNESS_BACKOFF,
    stableAfterMs: 200,
    ...options.client,
  });
  return {
    dir,
    store,
    credentials,
    outbox,
    policy,
    client,
    clock,
    applied,
    rejectWith,
    queued: (type) => store.db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM sync_outbox WHERE type = ?').get(type)!.n,
    close: async () => {
      await client.stop();
      store.close();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Lets the loopback I/O run and moves the agent's clock `stepMs` per round until `predicate` holds:
 * time passes only as far as the test needs (a retry, a batching delay, a resync) and never by
 * sleeping. Throws naming `what` after `rounds` rounds.
 */
export async function advanceUntil(clock: ManualClock, predicate: () => boolean, what: string, stepMs = 10, rounds = 2000): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    if (predicate()) return;
    clock.advance(stepMs);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (!predicate()) throw new Error(`never happened while the clock advanced: ${what}`);
}

/** Recent, as a live agent's events are: a fixed date would fall out of the gateway's events retention (90 days). */
const EVENTS_BASE_MS = Date.now() - 3_600_000;

export function auditEvent(i: number, type = 'request') {
  return { type, at: new Date(EVENTS_BASE_MS + i).toISOString(), app: 'claude-code', os_user: 'alice', attrs: { i, route: '/anthropic/v1/messages' } };
}

/** A seeded [0, 1) source (mulberry32), so a test's jitter is the same on every run. */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
