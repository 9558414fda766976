// The policy room: the organization's decisions on apps and MCP servers, held atomically and cached
// in the store; approval requests; audit records; the apps seen on this machine; block messages.
export { PolicySnapshotSchema } from './schema.ts';
export type { CatalogStatus, DecisionScope, FailMode, PendingAction, PolicyDecision, PolicySettings, PolicySnapshot, RoutingMode, Verdict } from './schema.ts';
export { PolicyEngine, PolicyRejectedError, StalePolicyError, type AppQuery, type ApplyResult, type PolicyChange, type PolicyEngineOptions, type SnapshotOutcome } from './engine.ts';
export { decide, indexSnapshot, type PolicyIndex, type Subject } from './evaluate.ts';
export { POLICY_MIGRATIONS } from './migrations.ts';
export { ApprovalTracker, REREPORT_AFTER_MS, type ApprovalSubject, type ApprovalTrackerOptions } from './approvals.ts';
export { buildAppDecisionEvent, toEdgeEvent, type AppDecisionEvent, type AppDecisionInput } from './audit.ts';
export { SeenApps, blockedSummary, listSeenApps, type SeenAppRow, type SeenAppUse } from './seen-apps.ts';
export { blockMessage, blockReasonOf, requestAccessCommand, type BlockMessageInput, type BlockReason } from './block-message.ts';
