// The MCP room: finds every MCP server configured in the supported AI apps for every local user,
// reports them redacted (`inventory.mcp`), watches their files and enforces allow / block. Each app
// is one adapter (apps/), listed once in apps/index.ts.
export { McpGovernor, type McpGovernorOptions } from './governor.ts';
export { MCP_MIGRATIONS } from './schema.ts';
export { MCP_APP_ADAPTERS } from './apps/index.ts';
export {
  onEveryOs,
  type ConfigFormat,
  type ConfigLocation,
  type Enforcement,
  type ManagedPolicyEnforcement,
  type ManagedPolicyInput,
  type ManagedPolicyOutput,
  type McpAppAdapter,
  type PathsPerOs,
  type PolicyServer,
  type ProjectSource,
} from './app-adapter.ts';
export { flagEdit, quarantineEdit, type FileEdit } from './file-edit.ts';
export { mcpServersOf, normalizeCommonEntry, serversUnder, type ExtractResult, type NormalizeResult, type RawEntry } from './normalize.ts';
export { fingerprintServer, canonicalUrl } from './fingerprint.ts';
export { DEFAULT_SIZE_LIMIT } from './read-config.ts';
export type {
  DecideMcpServer,
  EnforcedHow,
  McpApp,
  McpAuditAction,
  McpAuditEvent,
  McpDecision,
  McpDiscovery,
  McpFileError,
  McpFileErrorCode,
  McpInventory,
  McpListRow,
  McpScope,
  McpServerReport,
  McpTransport,
  McpVerdict,
  OsUser,
  Platform,
  RedactedPair,
} from './types.ts';
