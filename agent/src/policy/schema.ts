// The policy snapshot as the gateway sends it: the edge protocol's schema is the single source, so the
// sync room and this room validate a snapshot the same way.
import { policySnapshotSchema } from '../../../protocol/index.ts';
import type { CatalogStatus, PolicySettings, PolicySnapshot, RoutingMode } from '../../../protocol/index.ts';

export const PolicySnapshotSchema = policySnapshotSchema;
export type { CatalogStatus, PolicySettings, PolicySnapshot, RoutingMode };

export type FailMode = PolicySettings['fail_mode'];
export type PendingAction = PolicySettings['pending_action'];

/** What a request gets. */
export type Verdict = 'allow' | 'block';

/** Where a decision came from: a user-scoped entry, the global entry, the catalog default, or fail_mode. */
export type DecisionScope = 'user' | 'global' | 'default' | 'fail_mode';

export interface PolicyDecision {
  verdict: Verdict;
  /**
   * The item's status; `no_policy` when no valid policy is held (fail_mode decided); `unverified`
   * when the organization requires a verified identity for the app and the process had none.
   */
  status: CatalogStatus | 'no_policy' | 'unverified';
  scope: DecisionScope;
  /** Why, in words for logs and support (`denied for alice by the organization`). */
  reason: string;
  /** Version of the policy that decided; null under fail_mode. */
  policyVersion: number | null;
}
