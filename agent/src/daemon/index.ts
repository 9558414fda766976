// The daemon room: wires every other room and owns start and stop.
export { startDaemon, type DaemonOptions, type RunningDaemon } from './daemon.ts';
export { Lifecycle, WorkTracker, type Service } from './lifecycle.ts';
export { NOT_GOVERNED_REASONS, STATUS_EXIT_CODES, OTHER_ERROR_EXIT_CODE, type Blocker, type DaemonStatus, type GovernanceReason, type NotGovernedReason, type StatusSection } from './status.ts';
