// `heimdall status` as the MDM scripts read it: exit code per reason, in the contract's order
// (the first reason that applies is the one reported). Scripts are generated from this table.
export const STATUS_REASONS = [
  { reason: 'governed', exitCode: 0 },
  { reason: 'daemon_not_running', exitCode: 3 },
  { reason: 'not_configured', exitCode: 8 },
  { reason: 'interception_off', exitCode: 7 },
  { reason: 'not_signed_in', exitCode: 4 },
  { reason: 'gateway_unreachable', exitCode: 5 },
  { reason: 'policy_stale', exitCode: 6 },
] as const;

export type StatusReason = (typeof STATUS_REASONS)[number]['reason'];

/** Exit code 1 (or any code not in the table) is "other error". */
export const OTHER_ERROR_REASON = 'error';
