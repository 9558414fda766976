// The sync room: the websocket to the control plane (policy down; events and inventory up through a
// durable outbox), with full-jitter reconnects and periodic resync. See docs/protocol.md.
export {
  SyncClient,
  SyncError,
  describeSyncStatus,
  syncStatusSection,
  type SyncClientOptions,
  type SyncCredentials,
  type SyncState,
  type SyncStatus,
  type ApplyPolicy,
  type ApplyPolicyResult,
} from './client.ts';
export {
  Outbox,
  OutboxError,
  MAX_EVENT_BYTES,
  DEFAULT_OUTBOX_MAX_ROWS,
  DEFAULT_OUTBOX_MAX_BYTES,
  type OutboxOptions,
  type OutboxEntry,
  type OutboxDepth,
  type OutboxKind,
  type NewEvent,
  type NewInventoryReport,
} from './outbox.ts';
export { computeBackoff, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
export { SYNC_MIGRATIONS } from './schema.ts';
export { GatewayCaSigner, type GatewayCaSignerOptions } from './gateway-signer.ts';
