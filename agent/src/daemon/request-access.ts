// A person's request for an app or an MCP server (`heimdall request-access APP --reason ...`,
// `heimdall request-access --mcp FINGERPRINT --reason ...`) as the `approval.request`
// the sync channel carries: checked against the protocol's schema here, so a bad app id or an
// over-long reason is a sentence for the person, not a frame the gateway refuses.
import { approvalRequestSchema, type ApprovalRequestMessage } from '../../../protocol/index.ts';
import { APP_CATALOG, type CatalogApp } from '../identify/index.ts';
import type { SeenAppRow } from '../policy/index.ts';
import type { McpListRow } from '../mcp/index.ts';

/** The message for `appId` asked by `osUser`, named as the person saw it (seen apps, then the catalog). */
export function personRequest(input: { appId: string; reason: string; osUser: string }, seen: readonly SeenAppRow[]): ApprovalRequestMessage | { error: string } {
  const displayName =
    seen.find((a) => a.appId === input.appId)?.displayName ?? (APP_CATALOG as readonly CatalogApp[]).find((a) => a.id === input.appId)?.displayName ?? input.appId;
  const parsed = approvalRequestSchema.safeParse({
    type: 'approval.request', kind: 'app', app_id: input.appId, display_name: displayName.slice(0, 128), os_user: input.osUser, reason: input.reason,
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path[0] === 'app_id' ? 'app' : issue?.path[0] === 'reason' ? 'reason' : String(issue?.path[0] ?? 'request');
  return { error: `${field}: ${issue?.message ?? 'not accepted'}${field === 'app' ? ' (use the app id the block message names, e.g. claude-code)' : ''}` };
}

/**
 * The message for the MCP server `fingerprint` asked by `osUser`, named as `heimdall mcp` lists it:
 * only a server this machine has seen (the fingerprint the person copied from `heimdall mcp`).
 */
export function personMcpRequest(input: { fingerprint: string; reason: string; osUser: string }, servers: readonly McpListRow[]): ApprovalRequestMessage | { error: string } {
  const server = servers.find((s) => s.fingerprint === input.fingerprint && s.osUser === input.osUser) ?? servers.find((s) => s.fingerprint === input.fingerprint);
  if (!server) return { error: 'mcp: no MCP server with this fingerprint is configured on this machine (`heimdall mcp` lists them with theirs)' };
  const parsed = approvalRequestSchema.safeParse({
    type: 'approval.request', kind: 'mcp', fingerprint: input.fingerprint, display_name: server.name.slice(0, 256), os_user: input.osUser, reason: input.reason,
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path[0] === 'fingerprint' ? 'mcp' : issue?.path[0] === 'reason' ? 'reason' : String(issue?.path[0] ?? 'request');
  return { error: `${field}: ${issue?.message ?? 'not accepted'}` };
}
