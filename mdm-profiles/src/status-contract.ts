// `heimdall status` as the MDM scripts read it: exit code per reason, in the contract's order (the first
// reason that applies is the one reported). The agent owns the contract; scripts are generated from it.
import { NOT_GOVERNED_REASONS, STATUS_EXIT_CODES, type GovernanceReason } from '../../agent/src/daemon/index.ts';

export const STATUS_REASONS: readonly { reason: GovernanceReason; exitCode: number }[] = (['governed', ...NOT_GOVERNED_REASONS] as const)
  .map((reason) => ({ reason, exitCode: STATUS_EXIT_CODES[reason] }));

export type StatusReason = GovernanceReason;

/** Exit code 1 (or any code not in the table) is "other error". */
export const OTHER_ERROR_REASON = 'error';
