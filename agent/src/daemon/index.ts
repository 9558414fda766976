// The daemon room: wires every other room and owns start and stop.
export { startDaemon, type DaemonOptions, type RunningDaemon } from './daemon.ts';
export { Lifecycle, WorkTracker, type Service } from './lifecycle.ts';
export type { DaemonStatus, StatusSection } from './status.ts';
