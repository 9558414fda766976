// The status judgement's pure parts: the contract's reason order, and when a held policy is stale.
import { describe, expect, it } from 'vitest';
import { judgeGovernance, policyBlockers, POLICY_STALE_AFTER_S } from '../../agent/src/daemon/status.ts';

describe('judgeGovernance', () => {
  it('orders reasons as the contract does, whatever order the rooms reported them in', () => {
    const judged = judgeGovernance([
      { reason: 'policy_stale', message: 'p' },
      { reason: 'not_signed_in', message: 's1' },
      { reason: 'interception_off', message: 'i' },
      { reason: 'not_signed_in', message: 's2' },
      { reason: 'gateway_unreachable', message: 'g' },
      { reason: 'not_configured', message: 'c' },
    ]);
    expect(judged).toEqual({
      governed: false,
      reason: 'not_configured',
      reasons: ['not_configured', 'interception_off', 'not_signed_in', 'gateway_unreachable', 'policy_stale'],
      blockers: ['c', 'i', 's1', 's2', 'g', 'p'],
    });
  });

  it('is governed with no blockers', () => {
    expect(judgeGovernance([])).toEqual({ governed: true, reason: 'governed', reasons: [], blockers: [] });
  });
});

describe('policyBlockers', () => {
  it('calls a missing policy stale', () => {
    expect(policyBlockers(null, null).map((b) => b.reason)).toEqual(['policy_stale']);
  });

  it('calls a policy stale only once the gateway has not confirmed it for a day', () => {
    expect(policyBlockers(7, POLICY_STALE_AFTER_S)).toEqual([]);
    expect(policyBlockers(7, 0)).toEqual([]);
    expect(policyBlockers(7, POLICY_STALE_AFTER_S + 3600)).toEqual([
      { reason: 'policy_stale', message: 'the policy in force (version 7) has not been confirmed by the gateway for 25 h' },
    ]);
  });
});
