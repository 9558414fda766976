// The MCP room's redacted inventory in the wire shape of `inventory.mcp` (docs/protocol.md).
import { LIMITS } from '../../../protocol/index.ts';
import type { McpAuditEvent, McpInventory } from '../mcp/index.ts';
import type { NewEvent, NewInventoryReport } from '../sync/index.ts';

export function mcpInventoryMessage(inventory: McpInventory): NewInventoryReport {
  return {
    type: 'inventory.mcp',
    servers: inventory.servers.slice(0, LIMITS.maxInventoryMcpServers).map((s) => ({
      app: s.app,
      scope: s.scope,
      config_path: s.configPath,
      name: s.name,
      transport: s.transport,
      fingerprint: s.fingerprint,
      ...(s.command !== undefined ? { command: s.command } : {}),
      ...(s.args !== undefined ? { args: s.args } : {}),
      ...(s.url !== undefined ? { url: s.url } : {}),
      env_keys: s.env.map((e) => e.name),
      header_keys: s.headers.map((h) => h.name),
      os_user: s.osUser,
    })),
    errors: inventory.errors.slice(0, LIMITS.maxInventoryMcpErrors).map((e) => ({ app: e.app, config_path: e.configPath, os_user: e.osUser, error: e.message.slice(0, 1024) })),
  };
}

export function mcpAuditEvent(event: McpAuditEvent): NewEvent {
  return {
    type: 'mcp.enforcement',
    at: event.at,
    app: event.app,
    ...(event.osUser !== undefined ? { os_user: event.osUser } : {}),
    attrs: {
      action: event.action,
      path: event.path.slice(0, 4096),
      servers: event.servers.map((s) => s.fingerprint).join(',').slice(0, 4096),
      detail: event.detail.slice(0, 4096),
    },
  };
}
