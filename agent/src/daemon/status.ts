// The daemon's answer to `heimdall status`: each room contributes a section and, when something keeps
// AI traffic from being governed, a blocker: a reason from the fixed list fleet tools read (exit codes,
// `reason` in --json) and a sentence for a person saying what and how to fix it.
import type { ConfigProblem, HeimdallConfig } from '../config/index.ts';
import type { McpDiscovery } from '../mcp/index.ts';
import type { SyncStatus } from '../sync/index.ts';

/**
 * Why AI traffic is not governed, in the order `reason` picks the first of (a shared contract with
 * MDM scripts and the packages' health checks: do not reorder or rename).
 */
export const NOT_GOVERNED_REASONS = ['daemon_not_running', 'not_configured', 'interception_off', 'not_signed_in', 'gateway_unreachable', 'policy_stale'] as const;
export type NotGovernedReason = (typeof NOT_GOVERNED_REASONS)[number];
export type GovernanceReason = 'governed' | NotGovernedReason;

/**
 * `heimdall status`'s exit code per reason: the same contract (documented in `heimdall status --help`,
 * README.md and docs/configuration.md; the MDM scripts are generated from it).
 */
export const STATUS_EXIT_CODES: Readonly<Record<GovernanceReason, number>> = {
  governed: 0,
  daemon_not_running: 3,
  not_signed_in: 4,
  gateway_unreachable: 5,
  policy_stale: 6,
  interception_off: 7,
  not_configured: 8,
};
/** Any error that is not one of the reasons. */
export const OTHER_ERROR_EXIT_CODE = 1;

export interface Blocker {
  reason: NotGovernedReason;
  message: string;
}

/** A policy the gateway has not confirmed for this long is stale (the agent asks for it every few minutes). */
export const POLICY_STALE_AFTER_S = 24 * 3600;

/**
 * Whose status is asked for (the local API's caller): root sees every user, an unprivileged user
 * their own sign-in and data, a caller the daemon cannot identify the machine without user names.
 */
export type StatusView = { kind: 'all' } | { kind: 'user'; osUser: string } | { kind: 'anonymous' };

export interface StatusSection {
  readonly name: string;
  collect(view: StatusView): unknown;
  /** What keeps AI traffic from being governed for `view`; empty when this room is not in the way. */
  blockers?(view: StatusView): Blocker[];
}

export interface DaemonStatus {
  agent: { version: string; pid: number; started_at: string; uptime_s: number; platform: string; node: string };
  device_id: string;
  state_dir: string;
  governed: boolean;
  /** `governed`, or the first reason of NOT_GOVERNED_REASONS that applies. */
  reason: GovernanceReason;
  /** Every reason that applies, in NOT_GOVERNED_REASONS order; empty when governed. */
  reasons: NotGovernedReason[];
  /** OS user names signed in to the gateway on this machine, as the caller may see them (status.ts StatusView). */
  signed_in_users: string[];
  /** One sentence per blocker, in the order of `reasons`. */
  blockers: string[];
  config: { values: HeimdallConfig; origins: Record<string, string>; problems: ConfigProblem[] };
  sections: Record<string, unknown>;
}

/** Orders blockers by the contract's reason order and derives `governed`, `reason` and `reasons`. */
export function judgeGovernance(blockers: readonly Blocker[]): Pick<DaemonStatus, 'governed' | 'reason' | 'reasons' | 'blockers'> {
  const rank = (r: NotGovernedReason): number => NOT_GOVERNED_REASONS.indexOf(r);
  const sorted = [...blockers].sort((a, b) => rank(a.reason) - rank(b.reason));
  const reasons = [...new Set(sorted.map((b) => b.reason))];
  return { governed: reasons.length === 0, reason: reasons[0] ?? 'governed', reasons, blockers: sorted.map((b) => b.message) };
}

export function configBlockers(config: HeimdallConfig, managedFile: string): Blocker[] {
  const out: Blocker[] = [];
  if (!config.gateway_url) out.push({ reason: 'not_configured', message: `no gateway is configured: set gateway_url in ${managedFile} or through MDM` });
  if (!config.intercept) out.push({ reason: 'interception_off', message: 'interception is turned off by configuration (intercept = false)' });
  return out;
}

/** The policy is missing, or the gateway has not confirmed it for a day. */
export function policyBlockers(heldVersion: number | null, confirmedAgoS: number | null): Blocker[] {
  if (heldVersion === null) return [{ reason: 'policy_stale', message: 'no policy has been received from the gateway yet (fail_mode decides)' }];
  if (confirmedAgoS !== null && confirmedAgoS > POLICY_STALE_AFTER_S) {
    return [{ reason: 'policy_stale', message: `the policy in force (version ${heldVersion}) has not been confirmed by the gateway for ${Math.round(confirmedAgoS / 3600)} h` }];
  }
  return [];
}

/** The sync channel's part: a device nobody enrolled, or a gateway the channel cannot reach. */
export function syncBlockers(s: SyncStatus, controlUrl: string | undefined): Blocker[] {
  switch (s.state) {
    case 'connected':
      return [];
    case 'not_enrolled':
      // Enrollment happens at the first sign-in: the users section already says "nobody has signed in".
      return [];
    case 'revoked':
      return [{ reason: 'not_signed_in', message: 'this device was revoked by the organization: run `heimdall login` again' }];
    case 'connecting':
    case 'backoff':
    case 'stopped':
      // Without a control URL there is nothing to reach; not_configured says so.
      if (controlUrl === undefined) return [];
      return [{ reason: 'gateway_unreachable', message: `the gateway at ${controlUrl} is not connected (${s.state})${s.last_error ? `: ${s.last_error}` : ''}` }];
  }
}

/** The MCP section: how many servers, and whether the discovery is still running. */
export function mcpStatus(discovery: McpDiscovery, servers: number): { servers: number; discovery: McpDiscovery; summary: string } {
  const summary = {
    in_progress: `discovery in progress (${servers} MCP server(s) found so far)`,
    done: `${servers} MCP server(s) found`,
    failed: `discovery failed (${discovery.error ?? 'unknown error'}); ${servers} MCP server(s) known`,
  }[discovery.state];
  return { servers, discovery, summary };
}
