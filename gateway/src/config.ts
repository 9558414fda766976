// The gateway's config file (JSON, optional): public URL, TLS, admin exposure, and the inference
// section (owned by the inference room). Secrets are never in it: provider keys are `env.NAME`.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_CLIENT_LIMITS, type ClientLimitSettings } from './http/index.ts';
import { loadSsoConfig, SsoConfigError, type SsoConfig } from './sso/index.ts';

const whole = (min: number, max: number) => {
  const error = { error: `accepted: a whole number from ${min} to ${max}` };
  return z.int(error).min(min, error).max(max, error).optional();
};

const limitsSchema = z.strictObject({
  headers_timeout_s: whole(1, 600),
  request_timeout_s: whole(1, 3600),
  body_timeout_s: whole(1, 600),
  max_connections_per_client: whole(1, 1_000_000),
  enroll_per_minute: whole(1, 10_000_000),
  enroll_burst: whole(1, 10_000_000),
  admin_per_minute: whole(1, 10_000_000),
  admin_burst: whole(1, 10_000_000),
  inference_per_minute: whole(1, 10_000_000),
  inference_burst: whole(1, 10_000_000),
});

/** Listener hardening (issue 15, attack 5): timeouts and per-client caps, docs/gateway.md "Limits". */
export interface GatewayLimits {
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /** A whole request (body included) on any route must arrive within this; Node answers 408. */
  requestTimeoutMs: number;
  /** The JSON body of enrollment and admin requests must arrive within this; 408 otherwise. */
  bodyTimeoutMs: number;
  clients: ClientLimitSettings;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 120_000,
  bodyTimeoutMs: 10_000,
  clients: DEFAULT_CLIENT_LIMITS,
};

const drainSchema = z.strictObject({
  window_s: whole(0, 3600),
  reconnect_window_s: whole(1, 3600),
});

/** Graceful drain on SIGTERM (docs/operations.md "The drain"). */
export interface DrainSettings {
  /** The agents' connections are closed (4503) one after another over this window. */
  windowMs: number;
  /** Told to agents in `settings.drain_reconnect_s`: they reconnect after a random delay within it. */
  reconnectWindowS: number;
  /** After the window, connections still open get this long to answer their close before they are cut. */
  graceMs: number;
}

export const DEFAULT_DRAIN: DrainSettings = { windowMs: 10_000, reconnectWindowS: 30, graceMs: 5_000 };

const fileSchema = z.strictObject({
  public_url: z.url({ protocol: /^https?$/ }).optional(),
  support_url: z.url().optional(),
  admin: z.strictObject({ allow_remote: z.boolean().optional() }).optional(),
  tls: z.strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) }).optional(),
  inference: z.unknown().optional(),
  limits: limitsSchema.optional(),
  drain: drainSchema.optional(),
  sso: z.unknown().optional(),
  store_url: z.string().min(1).optional(),
  store_password: z.string().min(1).optional(),
  events_retention_days: whole(1, 36_500),
  heartbeat_s: whole(1, 300),
});

/** `env.NAME`: the only form a secret takes in the config file. */
const ENV_REFERENCE = /^env\.([A-Za-z_][A-Za-z0-9_]*)$/;

/** Events older than this go (docs/gateway.md "Events retention"); 90 days covers a quarter's audit. */
export const DEFAULT_EVENTS_RETENTION_DAYS = 90;

/** Where the gateway keeps its state when not in the data dir's SQLite file. */
export interface GatewayStoreConfig {
  /** `postgres://user@host:5432/db`, never with a password in it. */
  url: string;
  /** Resolved from `store_password: "env.NAME"`; undefined lets pg read PGPASSWORD or ~/.pgpass. */
  password: string | undefined;
}

export interface GatewayConfig {
  /** Where devices reach the gateway (`https://gw.example.com`); enrollment answers with its wss:// URL. */
  publicUrl: URL | undefined;
  supportUrl: string | undefined;
  adminAllowRemote: boolean;
  tls: { certPem: string; keyPem: string } | undefined;
  /** The raw `inference` section, validated by the inference room. */
  inference: unknown;
  limits: GatewayLimits;
  drain: DrainSettings;
  /** Single sign-on (docs/sso.md); undefined when no IdP is configured. */
  sso: SsoConfig | undefined;
  /** PostgreSQL (`store_url`); undefined keeps the embedded SQLite file in the data dir. */
  store: GatewayStoreConfig | undefined;
  /** Days agent and gateway events are kept (both stores). */
  eventsRetentionDays: number;
  /**
   * The websocket ping and `device_connections` heartbeat period (`heartbeat_s`); undefined: the
   * protocol's 30 s. Every replica sharing a database must use the same: each judges the others' rows
   * stale after 2.5 of its own periods.
   */
  heartbeatMs: number | undefined;
  source: string | undefined;
}

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
}

export const EMPTY_CONFIG: GatewayConfig = { publicUrl: undefined, supportUrl: undefined, adminAllowRemote: false, tls: undefined, inference: undefined, limits: DEFAULT_LIMITS, drain: DEFAULT_DRAIN, sso: undefined, store: undefined, eventsRetentionDays: DEFAULT_EVENTS_RETENTION_DAYS, heartbeatMs: undefined, source: undefined };

export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new GatewayConfigError(`gateway config ${file}: ${(err as Error).message}; fix the file or start without --config`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = [...issue.path.map(String), ...(issue.code === 'unrecognized_keys' ? [issue.keys[0] ?? ''] : [])].join('.');
    throw new GatewayConfigError(`gateway config ${file}: key \`${key || '(root)'}\`: ${issue.message}`);
  }
  const c = parsed.data;
  let tls: GatewayConfig['tls'];
  if (c.tls) {
    try {
      tls = { certPem: readFileSync(c.tls.cert_file, 'utf8'), keyPem: readFileSync(c.tls.key_file, 'utf8') };
    } catch (err) {
      throw new GatewayConfigError(`gateway config ${file}: key \`tls\`: ${(err as Error).message}`);
    }
  }
  let sso: SsoConfig | undefined;
  try {
    sso = c.sso === undefined ? undefined : loadSsoConfig(c.sso, env, `gateway config ${file}`);
  } catch (err) {
    if (err instanceof SsoConfigError) throw new GatewayConfigError(err.message);
    throw err;
  }
  const where = `gateway config ${file}`;
  return {
    publicUrl: c.public_url ? new URL(c.public_url) : undefined,
    sso,
    store: resolveStore(c.store_url, c.store_password, env, where),
    eventsRetentionDays: c.events_retention_days ?? DEFAULT_EVENTS_RETENTION_DAYS,
    heartbeatMs: c.heartbeat_s === undefined ? undefined : c.heartbeat_s * 1000,
    supportUrl: c.support_url,
    adminAllowRemote: c.admin?.allow_remote ?? false,
    tls,
    inference: c.inference,
    limits: resolveLimits(c.limits ?? {}),
    drain: {
      windowMs: (c.drain?.window_s ?? DEFAULT_DRAIN.windowMs / 1000) * 1000,
      reconnectWindowS: c.drain?.reconnect_window_s ?? DEFAULT_DRAIN.reconnectWindowS,
      graceMs: DEFAULT_DRAIN.graceMs,
    },
    source: file,
  };
}

function resolveLimits(l: z.infer<typeof limitsSchema>): GatewayLimits {
  const d = DEFAULT_LIMITS;
  const rates = d.clients.rates;
  const requestTimeoutMs = (l.request_timeout_s ?? d.requestTimeoutMs / 1000) * 1000;
  return {
    // Node requires the headers deadline to be within the request deadline.
    headersTimeoutMs: Math.min(requestTimeoutMs, (l.headers_timeout_s ?? d.headersTimeoutMs / 1000) * 1000),
    requestTimeoutMs,
    bodyTimeoutMs: (l.body_timeout_s ?? d.bodyTimeoutMs / 1000) * 1000,
    clients: {
      maxConnectionsPerClient: l.max_connections_per_client ?? d.clients.maxConnectionsPerClient,
      rates: {
        enroll: { perMinute: l.enroll_per_minute ?? rates.enroll.perMinute, burst: l.enroll_burst ?? rates.enroll.burst },
        admin: { perMinute: l.admin_per_minute ?? rates.admin.perMinute, burst: l.admin_burst ?? rates.admin.burst },
        inference: { perMinute: l.inference_per_minute ?? rates.inference.perMinute, burst: l.inference_burst ?? rates.inference.burst },
      },
    },
  };
}

/**
 * Validates `store_url` and resolves `store_password`. A password inside the URL is refused: the
 * file is read by people and tools that must not learn it (PGPASSWORD, ~/.pgpass or an `env.NAME`
 * reference carry it instead). Errors never repeat the URL, which may hold that password.
 */
export function resolveStore(url: string | undefined, password: string | undefined, env: NodeJS.ProcessEnv, where: string): GatewayStoreConfig | undefined {
  if (url === undefined) {
    if (password !== undefined) throw new GatewayConfigError(`${where}: key \`store_password\`: set only with \`store_url\` (the PostgreSQL store); remove it to keep the embedded SQLite store`);
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new GatewayConfigError(`${where}: key \`store_url\`: not a URL; expected postgres://user@host:5432/database`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new GatewayConfigError(`${where}: key \`store_url\`: expected a postgres:// or postgresql:// URL, got a ${parsed.protocol.replace(/:$/, '')}: one`);
  }
  if (parsed.password !== '' || parsed.searchParams.has('password')) {
    throw new GatewayConfigError(
      `${where}: key \`store_url\`: contains a password, which never goes in the config file; remove it and set PGPASSWORD, ~/.pgpass of the gateway's account, or \`store_password: "env.NAME"\``,
    );
  }
  if (password === undefined) return { url, password: undefined };
  const variable = ENV_REFERENCE.exec(password)?.[1];
  if (variable === undefined) {
    throw new GatewayConfigError(`${where}: key \`store_password\`: expected a reference to an environment variable, like "env.HEIMDALL_DB_PASSWORD" (the password itself never goes in the config file)`);
  }
  const value = env[variable];
  if (value === undefined || value === '') {
    throw new GatewayConfigError(`${where}: key \`store_password\`: environment variable ${variable} is not set; set it in the gateway's environment (or use PGPASSWORD / ~/.pgpass)`);
  }
  return { url, password: value };
}
