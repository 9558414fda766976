// The sync line of `heimdall status`, as a person reads it: one phrase per channel state, the policy
// version and its age, the outbox, and the last error while not connected.
import { describe, expect, it } from 'vitest';
import { describeSyncStatus, type SyncStatus } from '../../agent/src/sync/index.ts';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();

const base: SyncStatus = {
  state: 'connected',
  since: at(3_700_000),
  last_error: 'the gateway answered the websocket upgrade with HTTP 503',
  policy_version: 7,
  policy_age_s: 4000,
  outbox_depth: 3,
  outbox_bytes: 900,
  next_retry_at: null,
};

describe('sync status line', () => {
  it.each<[SyncStatus['state'], Partial<SyncStatus>, string]>([
    ['connected', {}, 'connected for 62m; policy v7 (from the gateway 67m ago); 3 report(s) waiting to upload'],
    ['connecting', { since: at(5000) }, 'connecting; policy v7 (from the gateway 67m ago); 3 report(s) waiting to upload; last error: the gateway answered the websocket upgrade with HTTP 503'],
    [
      'backoff',
      { since: at(45_000), next_retry_at: new Date(NOW + 12_000).toISOString() },
      'gateway unreachable for 45s, retrying in 12s; policy v7 (from the gateway 67m ago); 3 report(s) waiting to upload; last error: the gateway answered the websocket upgrade with HTTP 503',
    ],
    ['revoked', { last_error: null, outbox_depth: 0 }, 'device revoked: run `heimdall login`; policy v7 (from the gateway 67m ago); outbox empty'],
    ['not_enrolled', { last_error: null, policy_version: null, policy_age_s: null, outbox_depth: 0 }, 'not enrolled: run `heimdall login`; no policy yet; outbox empty'],
    ['stopped', { last_error: null, policy_age_s: 200_000 }, 'stopped; policy v7 (from the gateway 2d ago); 3 report(s) waiting to upload'],
  ])('says %s in words', (state, over, line) => {
    expect(describeSyncStatus({ ...base, state, ...over }, NOW)).toBe(line);
  });
});
