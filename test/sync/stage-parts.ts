// Real parts for testing one sync stage alone: a store file with the policy and sync migrations, the
// real policy room and outbox, a ManualClock, and a Link that records what a stage sends (the socket
// is the connection stage's, tested in connection.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { POLICY_MIGRATIONS, PolicyEngine } from '../../agent/src/policy/index.ts';
import { Store } from '../../agent/src/store/index.ts';
import { Outbox, SYNC_MIGRATIONS, type Link } from '../../agent/src/sync/index.ts';
import type { AgentMessage } from '../../protocol/index.ts';

export interface RecordingLink extends Link {
  sent: AgentMessage[];
  ended: boolean;
}

export function recordingLink(): RecordingLink {
  const link: RecordingLink = {
    sent: [],
    ended: false,
    send: (message) => {
      if (link.ended) return false;
      link.sent.push(message);
      return true;
    },
    // What goes on the wire must be one valid JSON message: parsed here, a splice error fails the test.
    sendEncoded: (text) => link.send(JSON.parse(text) as AgentMessage),
    bufferedBytes: () => 0,
  };
  return link;
}

export interface StageParts {
  dir: string;
  store: Store;
  outbox: Outbox;
  policy: PolicyEngine;
  clock: ManualClock;
  /** Rows of `type` waiting in the outbox, parsed. */
  queued(type: string): { attrs?: Record<string, unknown> }[];
  /** Opens the same store again, as a restarted daemon would (the old one is closed). */
  reopen(): StageParts;
  close(): void;
}

export function stageParts(dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-stage-')), clock = new ManualClock()): StageParts {
  const logger = silentLogger();
  const store = new Store({ stateDir: dir, logger, migrations: [POLICY_MIGRATIONS, SYNC_MIGRATIONS] });
  const policy = new PolicyEngine({ db: store.db, logger, clock: () => new Date(clock.now()) });
  policy.loadCachedPolicy();
  let closed = false;
  const closeStore = () => {
    if (!closed) store.close();
    closed = true;
  };
  const parts: StageParts = {
    dir,
    store,
    outbox: new Outbox({ db: store.db, logger }),
    policy,
    clock,
    queued: (type) =>
      store.db
        .prepare<[string], { payload: string }>('SELECT payload FROM sync_outbox WHERE type = ? ORDER BY seq')
        .all(type)
        .map((r) => JSON.parse(r.payload) as { attrs?: Record<string, unknown> }),
    reopen: () => {
      closeStore();
      return stageParts(dir, clock);
    },
    close: () => {
      closeStore();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return parts;
}
