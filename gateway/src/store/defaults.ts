// The defaults both stores fill unsaved settings from: the policy settings agents receive and the
// per-device budgets (docs/gateway.md states the rates and why).
import { LIMITS, TIMING, type PolicySettings } from '../../../protocol/index.ts';
import type { DeviceBudgets } from './types.ts';

export const DEFAULT_SETTINGS: PolicySettings = {
  pending_action: 'allow',
  fail_mode: 'open',
  intercept: true,
  routing: {},
  full_resync_s: TIMING.defaultFullResyncS,
  allow_direct_keys: false,
  require_verified: [],
};

/**
 * Well above what a real device sends (a developer machine reports tens of apps and MCP servers and
 * a few events a minute; an outbox drained after a day offline is a few thousand events), far
 * below what would let one device fill the catalogs: docs/gateway.md states the rates.
 */
export const DEFAULT_BUDGETS: DeviceBudgets = {
  message_bytes: LIMITS.maxAgentMessageBytes,
  inventory_apps: 512,
  inventory_mcp: 1024,
  catalog_items: 1000,
  events_per_minute: 1200,
  events_burst: 20_000,
};

