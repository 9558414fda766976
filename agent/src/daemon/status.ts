// The daemon's answer to `heimdall status`: each room contributes a section and, when something keeps
// AI traffic from being governed, a sentence saying what and how to fix it.
import type { ConfigProblem, HeimdallConfig } from '../config/index.ts';

export interface StatusSection {
  readonly name: string;
  collect(): unknown;
  /** Sentences, empty when this room is not in the way of governance. */
  blockers?(): string[];
}

export interface DaemonStatus {
  agent: { version: string; pid: number; started_at: string; uptime_s: number; platform: string; node: string };
  device_id: string;
  state_dir: string;
  governed: boolean;
  blockers: string[];
  config: { values: HeimdallConfig; origins: Record<string, string>; problems: ConfigProblem[] };
  sections: Record<string, unknown>;
}

export function configBlockers(config: HeimdallConfig, managedFile: string): string[] {
  const out: string[] = [];
  if (!config.intercept) out.push('interception is turned off by configuration (intercept = false)');
  if (!config.gateway_url) out.push(`no gateway is configured: set gateway_url in ${managedFile} or through MDM`);
  return out;
}
