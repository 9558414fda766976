// The policy channel alone, with the real policy room and outbox on a store file and a ManualClock:
// snapshots are handed over in order and coalesced, the policy room's answer decides what happens,
// refusals reach the gateway as events, and resync runs on the clock.
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { PolicyChannel, type PolicyRoom } from '../../agent/src/sync/index.ts';
import { makePolicy } from './protocol-test-server.ts';
import { recordingLink, stageParts, type StageParts } from './stage-parts.ts';

const opened: StageParts[] = [];
afterEach(() => {
  for (const p of opened.splice(0)) p.close();
});

function channel(options: { room?: (parts: StageParts) => PolicyRoom; fullResyncMs?: number; parts?: StageParts } = {}) {
  const parts = options.parts ?? stageParts();
  if (!options.parts) opened.push(parts);
  const applied: number[] = [];
  parts.policy.on('change', (c) => applied.push(c.version));
  const policy = new PolicyChannel({
    policy: options.room?.(parts) ?? parts.policy,
    outbox: parts.outbox,
    db: parts.store.db,
    clock: parts.clock,
    rng: () => 0.5,
    logger: silentLogger(),
    ...(options.fullResyncMs !== undefined ? { fullResyncMs: options.fullResyncMs } : {}),
  });
  return { parts, policy, applied };
}

describe('policy channel', () => {
  it('hands snapshots over one at a time; while one is in the policy room only the newest waits', async () => {
    const { policy, applied } = channel();
    for (let v = 1; v <= 50; v++) policy.offer(makePolicy(v));
    await policy.settled();
    // 1 went in at once; 2..49 were each replaced by a newer one while it was there.
    expect(applied).toEqual([1, 50]);
    expect(policy.version()).toBe(50);
  });

  it('leaves the stale check to the policy room: an older snapshot is ignored and not reported', async () => {
    const { parts, policy, applied } = channel();
    policy.offer(makePolicy(5));
    await policy.settled();
    policy.offer(makePolicy(3));
    await policy.settled();
    expect(applied).toEqual([5]);
    expect(policy.version()).toBe(5);
    expect(parts.queued('policy.rejected')).toEqual([]);
  });

  it('reports a snapshot the policy room refuses as policy.rejected, naming the version held', async () => {
    const { parts, policy } = channel({
      room: (p) => ({
        version: () => p.policy.version(),
        offerPolicySnapshot: (s) => (s.version === 9 ? { outcome: 'rejected', error: 'apps[1].id: duplicate app id' } : p.policy.offerPolicySnapshot(s)),
      }),
    });
    policy.offer(makePolicy(4));
    policy.offer(makePolicy(9));
    await policy.settled();
    expect(policy.version()).toBe(4);
    expect(parts.queued('policy.rejected').map((e) => e.attrs)).toEqual([{ version: 9, reason: 'apps[1].id: duplicate app id', held_version: 4 }]);
  });

  it('reports a policy room that throws as a refusal, and keeps going', async () => {
    let calls = 0;
    const { parts, policy, applied } = channel({
      room: (p) => ({
        version: () => p.policy.version(),
        offerPolicySnapshot: (s) => {
          if (++calls === 1) throw new Error('disk on fire');
          return p.policy.offerPolicySnapshot(s);
        },
      }),
    });
    policy.offer(makePolicy(2));
    await policy.settled();
    policy.offer(makePolicy(3));
    await policy.settled();
    expect(parts.queued('policy.rejected').map((e) => e.attrs?.['reason'])).toEqual(['the policy room threw: disk on fire']);
    expect(applied).toEqual([3]);
  });

  it('reports a policy message that failed the protocol without a version', () => {
    const { parts, policy } = channel();
    policy.invalid('settings.fail_mode: invalid enum value');
    expect(parts.queued('policy.rejected').map((e) => e.attrs)).toEqual([{ version: null, reason: 'policy message failed the protocol: settings.fail_mode: invalid enum value', held_version: null }]);
  });

  it('resyncs on the attached connection when the clock reaches the period, naming the version held', async () => {
    const { parts, policy } = channel({ fullResyncMs: 60_000 });
    policy.offer(makePolicy(2));
    await policy.settled();
    const link = recordingLink();
    policy.attach(link);
    parts.clock.advance(59_999); // rng 0.5: the period exactly
    expect(link.sent).toEqual([]);
    parts.clock.advance(1);
    expect(link.sent).toEqual([{ type: 'resync', policy_version: 2 }]);
    parts.clock.advance(60_000);
    expect(link.sent).toHaveLength(2);
    // Detached (the connection ended): no more resyncs on it.
    policy.detach();
    parts.clock.advance(600_000);
    expect(link.sent).toHaveLength(2);
  });

  it("takes the resync period from the policy's settings when not overridden", async () => {
    const { parts, policy } = channel();
    policy.offer(makePolicy(2, { full_resync_s: 120 }));
    await policy.settled();
    const link = recordingLink();
    policy.attach(link);
    parts.clock.advance(119_999);
    expect(link.sent).toEqual([]);
    parts.clock.advance(1);
    expect(link.sent).toEqual([{ type: 'resync', policy_version: 2 }]);
  });

  it('counts the policy age from the last confirmation, across a restart', async () => {
    const { parts, policy } = channel();
    expect(policy.ageSeconds()).toBeNull();
    policy.offer(makePolicy(2));
    await policy.settled();
    parts.clock.advance(90_000);
    expect(policy.ageSeconds()).toBe(90);
    // The gateway re-sends the same snapshot on resync: unchanged, but confirmed now.
    const same = parts.policy.current()!;
    policy.offer(structuredClone(same));
    await policy.settled();
    expect(policy.ageSeconds()).toBe(0);
    parts.clock.advance(30_000);
    opened.pop();
    const restarted = channel({ parts: parts.reopen() });
    opened.push(restarted.parts);
    expect(restarted.policy.version()).toBe(2);
    expect(restarted.policy.ageSeconds()).toBe(30);
  });
});
