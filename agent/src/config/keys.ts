// Every managed setting the agent understands, as one table: its kind, default and description.
// Adding a setting means adding a row here; the validators, flags and docs follow from it.
import { LOG_LEVELS } from '../lib/logger.ts';

export type KeyKind =
  /** `credentials`: the URL receives the device token or a virtual key, so plain http/ws only to loopback. */
  | { kind: 'url'; schemes: readonly string[]; credentials?: true }
  | { kind: 'string'; maxLength: number }
  | { kind: 'port' }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  /** A list of entries of one item kind (each checked on its own; the list is taken whole or not at all). */
  | { kind: 'list'; item: ListItemKind; maxItems: number };

/** What one entry of a list key is; each has its parser in validate.ts. */
export type ListItemKind = 'local-target';

interface KeyRow<T> {
  type: KeyKind;
  /** Default when no source sets it; undefined means "not configured". */
  default: T | undefined;
  description: string;
}

// The TypeScript type each kind produces.
export interface HeimdallConfig {
  gateway_url: string | undefined;
  control_url: string | undefined;
  organization: string | undefined;
  support_url: string | undefined;
  proxy_port: number;
  pac_port: number | undefined;
  metrics_port: number | undefined;
  log_level: (typeof LOG_LEVELS)[number];
  intercept: boolean;
  ca_mode: 'local' | 'gateway';
  local_targets_allowed: readonly string[];
}

export type ConfigKey = keyof HeimdallConfig;

export const CONFIG_KEYS: { [K in ConfigKey]: KeyRow<HeimdallConfig[K]> } = {
  gateway_url: {
    type: { kind: 'url', schemes: ['https:', 'http:'], credentials: true },
    default: undefined,
    description: "the organization's AI gateway, where governed inference is forwarded",
  },
  control_url: {
    type: { kind: 'url', schemes: ['https:', 'http:', 'wss:', 'ws:'], credentials: true },
    default: undefined,
    description: 'the control plane for policy sync and enrollment (defaults to gateway_url)',
  },
  organization: {
    type: { kind: 'string', maxLength: 200 },
    default: undefined,
    description: 'organization name shown in messages to people',
  },
  support_url: {
    type: { kind: 'url', schemes: ['https:', 'http:', 'mailto:'] },
    default: undefined,
    description: 'where people are sent when a request is blocked',
  },
  proxy_port: {
    type: { kind: 'port' },
    default: 7420,
    description: 'loopback port of the local proxy',
  },
  pac_port: {
    type: { kind: 'port' },
    default: undefined,
    description: 'loopback port serving /proxy.pac (defaults to proxy_port)',
  },
  metrics_port: {
    type: { kind: 'port' },
    default: undefined,
    description: 'loopback port serving Prometheus metrics at /metrics (off when unset)',
  },
  log_level: {
    type: { kind: 'enum', values: LOG_LEVELS },
    default: 'info',
    description: 'daemon log level',
  },
  intercept: {
    type: { kind: 'boolean' },
    default: true,
    description: 'whether AI traffic is intercepted at all',
  },
  ca_mode: {
    type: { kind: 'enum', values: ['local', 'gateway'] },
    default: 'local',
    description: 'local: the device holds its own interception CA; gateway: the gateway signs leaves',
  },
  local_targets_allowed: {
    type: { kind: 'list', item: 'local-target', maxItems: 64 },
    default: [],
    description: "loopback, link-local or this machine's own addresses the proxy may connect to for clients (ADDRESS:PORT, [IPV6]:PORT or an address); refused otherwise",
  },
};

export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

export function isConfigKey(name: string): name is ConfigKey {
  return Object.hasOwn(CONFIG_KEYS, name);
}

/** The config with every default applied and control_url / pac_port derived. */
export function defaultConfig(): HeimdallConfig {
  const out = Object.fromEntries(CONFIG_KEY_NAMES.map((k) => [k, CONFIG_KEYS[k].default])) as unknown as HeimdallConfig;
  return out;
}
