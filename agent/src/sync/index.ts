// The sync room: the websocket to the control plane (policy down; events and inventory up through a
// durable outbox), run as stages: the connection (connection.ts, reconnect.ts, backoff.ts), the
// policy channel, the outbox sender, certificate requests; client.ts conducts them. See
// docs/architecture.md (the sync channel) and docs/protocol.md.
export { SyncClient, type SyncClientOptions, type SyncCredentials, type SyncDeviceTokens } from './client.ts';
export { describeSyncStatus, type SyncState, type SyncStatus } from './status.ts';
export type { PolicyRoom } from './policy-channel.ts';
// The stages, each usable (and tested) on its own.
export { Connection, helloMessage, type ConnectionEnd, type ConnectionEvents, type ConnectionOptions, type HelloInput, type Link } from './connection.ts';
export { Reconnect, type ReconnectOptions } from './reconnect.ts';
export { PolicyChannel, type PolicyChannelOptions } from './policy-channel.ts';
export { OutboxSender, type OutboxSenderOptions } from './outbox-sender.ts';
export { CertificateRequests, SyncError, type CertificateRequestsOptions } from './cert-requests.ts';
export {
  Outbox,
  OutboxError,
  MAX_EVENT_BYTES,
  type OutboxOptions,
  type OutboxEntry,
  type OutboxDepth,
  type OutboxKind,
  type NewEvent,
  type NewInventoryReport,
  type PreparedEvent,
} from './outbox.ts';
export { computeBackoff, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
export { SYNC_MIGRATIONS } from './schema.ts';
export { GatewayCaSigner, type GatewayCaSignerOptions } from './gateway-signer.ts';
