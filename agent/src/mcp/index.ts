// The MCP room: finds every MCP server configured in the supported AI apps for every local user,
// reports them redacted (`inventory.mcp`), watches their files and enforces allow / block.
export { McpGovernor, type McpGovernorOptions } from './governor.ts';
export { MCP_MIGRATIONS } from './schema.ts';
export { CONFIG_LOCATIONS, PROJECT_SOURCES, type ConfigLocation, type EnforcementKind, type ProjectSource } from './locations.ts';
export { MANAGED_POLICY_PATHS } from './managed-policy.ts';
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
