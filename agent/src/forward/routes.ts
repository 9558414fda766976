// The routing table: which hosts Heimdall intercepts and, per path, where each request goes.
// Data, not branches: supporting a new provider or surface means adding a row (and its test).
// The hosts, the gateway route prefixes and the error formats are the inference contract's
// (protocol/inference-routes.ts): a row naming a prefix the gateway does not serve does not compile.
import {
  INTERCEPTED_HOSTS, permittedDomains as contractPermittedDomains,
  type ErrorFormat, type GatewayRoutePrefix, type InferenceProvider, type InterceptedHost,
} from '../../../protocol/index.ts';

/** Providers whose traffic the table knows (the inference providers, and claude.ai). Bounded: used as a metrics label. */
export type Provider = InferenceProvider | 'claude';

/** Which provider's JSON error body an app on this route understands (protocol/provider-errors.ts). */
export type ErrorShapeId = ErrorFormat;

/** A path prefix always starts with a slash; matching is on segment boundaries. */
export type PathPrefix = `/${string}`;

/** Request headers that carry the provider's credential (all lower case). */
export type CredentialHeader = 'authorization' | 'x-api-key' | 'x-goog-api-key' | 'api-key';

interface RouteBase {
  /** Stable, bounded identifier: metrics label, audit field, log key. */
  id: string;
  /** Exact host name, lower case, no port: one of the contract's intercepted hosts. */
  host: InterceptedHost;
  /** Longest matching prefix wins within a host; `/` is the host's catch-all. */
  pathPrefix: PathPrefix;
  provider: Provider;
  errorShape: ErrorShapeId;
}

/**
 * Governed inference: the request goes to the organization's gateway on its drop-in route.
 * Gateway mode prepends `gatewayRoute` and swaps the credential for the user's virtual key;
 * pass-through mode prepends `passthroughRoute` and keeps the app's own credential.
 */
export interface GatewayRouteRow extends RouteBase {
  mode: 'gateway';
  gatewayRoute: GatewayRoutePrefix;
  passthroughRoute: GatewayRoutePrefix;
  credentialHeaders: readonly CredentialHeader[];
  /** Query parameters that carry a credential (Google accepts `?key=`). */
  credentialQueryParams: readonly string[];
  /**
   * `native-only`: the gateway cannot substitute a credential on this route (a ChatGPT sign-in
   * token, not an API key), so the app's credential is always kept, as in pass-through mode.
   */
  credentialPolicy: 'swappable' | 'native-only';
}

/**
 * Intercepted for policy and audit, then forwarded unchanged to the real origin: paths of an AI
 * host no gateway route serves (Claude Code's settings and telemetry calls) and consumer surfaces.
 */
export interface OriginRouteRow extends RouteBase {
  mode: 'origin';
  /** `consumer`: a browser surface; a blocked navigation gets a readable HTML page. */
  surface: 'api' | 'consumer';
}

export type RouteRow = GatewayRouteRow | OriginRouteRow;
export type RouteMode = RouteRow['mode'];

const OPENAI_CREDENTIALS = ['authorization', 'api-key'] as const satisfies readonly CredentialHeader[];
const ANTHROPIC_CREDENTIALS = ['x-api-key', 'authorization'] as const satisfies readonly CredentialHeader[];
const GOOGLE_CREDENTIALS = ['x-goog-api-key', 'authorization'] as const satisfies readonly CredentialHeader[];

// Gateway route prefixes are the contract's GATEWAY_ROUTES (Bifrost's drop-in integrations and
// `*_passthrough` routers); `/chatgpt_passthrough` serves only the Codex responses path.
export const ROUTES = [
  {
    id: 'openai-api', host: 'api.openai.com', pathPrefix: '/v1', provider: 'openai', errorShape: 'openai',
    mode: 'gateway', gatewayRoute: '/openai', passthroughRoute: '/openai_passthrough',
    credentialHeaders: OPENAI_CREDENTIALS, credentialQueryParams: [], credentialPolicy: 'swappable',
  },
  { id: 'openai-origin', host: 'api.openai.com', pathPrefix: '/', provider: 'openai', errorShape: 'openai', mode: 'origin', surface: 'api' },
  {
    id: 'anthropic-api', host: 'api.anthropic.com', pathPrefix: '/v1', provider: 'anthropic', errorShape: 'anthropic',
    mode: 'gateway', gatewayRoute: '/anthropic', passthroughRoute: '/anthropic_passthrough',
    credentialHeaders: ANTHROPIC_CREDENTIALS, credentialQueryParams: [], credentialPolicy: 'swappable',
  },
  // Claude Code calls these on the same host and degrades without them; no gateway route serves them.
  { id: 'anthropic-claude-code', host: 'api.anthropic.com', pathPrefix: '/api/claude_code', provider: 'anthropic', errorShape: 'anthropic', mode: 'origin', surface: 'api' },
  { id: 'anthropic-claude-cli', host: 'api.anthropic.com', pathPrefix: '/api/claude_cli', provider: 'anthropic', errorShape: 'anthropic', mode: 'origin', surface: 'api' },
  { id: 'anthropic-event-logging', host: 'api.anthropic.com', pathPrefix: '/api/event_logging', provider: 'anthropic', errorShape: 'anthropic', mode: 'origin', surface: 'api' },
  { id: 'anthropic-mcp-registry', host: 'api.anthropic.com', pathPrefix: '/mcp-registry', provider: 'anthropic', errorShape: 'anthropic', mode: 'origin', surface: 'api' },
  { id: 'anthropic-origin', host: 'api.anthropic.com', pathPrefix: '/', provider: 'anthropic', errorShape: 'anthropic', mode: 'origin', surface: 'api' },
  {
    id: 'genai-api', host: 'generativelanguage.googleapis.com', pathPrefix: '/', provider: 'genai', errorShape: 'google',
    mode: 'gateway', gatewayRoute: '/genai', passthroughRoute: '/genai_passthrough',
    credentialHeaders: GOOGLE_CREDENTIALS, credentialQueryParams: ['key'], credentialPolicy: 'swappable',
  },
  {
    id: 'chatgpt-codex', host: 'chatgpt.com', pathPrefix: '/backend-api/codex/responses', provider: 'chatgpt', errorShape: 'openai',
    mode: 'gateway', gatewayRoute: '/chatgpt_passthrough', passthroughRoute: '/chatgpt_passthrough',
    credentialHeaders: OPENAI_CREDENTIALS, credentialQueryParams: [], credentialPolicy: 'native-only',
  },
  { id: 'chatgpt-web', host: 'chatgpt.com', pathPrefix: '/', provider: 'chatgpt', errorShape: 'openai', mode: 'origin', surface: 'consumer' },
  { id: 'claude-web', host: 'claude.ai', pathPrefix: '/', provider: 'claude', errorShape: 'anthropic', mode: 'origin', surface: 'consumer' },
] as const satisfies readonly RouteRow[];

export type RouteId = (typeof ROUTES)[number]['id'];

/** A resolved route: the table row that governs one request. */
export type Route = RouteRow & { id: RouteId };

/** Rows per host, longest prefix first, built once. */
const ROUTES_BY_HOST: ReadonlyMap<string, readonly Route[]> = indexRoutes(ROUTES);

function indexRoutes(rows: readonly Route[]): Map<string, Route[]> {
  const byHost = new Map<string, Route[]>();
  const ids = new Set<string>();
  for (const row of rows) {
    // The type cannot say "lower case, no port, unique id"; a wrong row fails at load, loudly.
    if (row.host !== row.host.toLowerCase() || row.host.includes(':') || row.host.includes('/')) {
      throw new Error(`routing table row ${row.id}: host must be a lower-case name without port or path`);
    }
    if (ids.has(row.id)) throw new Error(`routing table row ${row.id}: duplicate id`);
    ids.add(row.id);
    const list = byHost.get(row.host) ?? [];
    list.push(row);
    byHost.set(row.host, list);
  }
  for (const [host, list] of byHost) {
    list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
    if (list.at(-1)?.pathPrefix !== '/') throw new Error(`routing table host ${host}: needs a catch-all row for "/"`);
  }
  // The CA is constrained to the contract's hosts: one without rows would get leaves and no routing.
  for (const host of INTERCEPTED_HOSTS) {
    if (!byHost.has(host)) throw new Error(`routing table: intercepted host ${host} (protocol/inference-routes.ts) has no row`);
  }
  return byHost;
}

/** True when `prefix` covers `path` on a segment boundary (`/v1` covers `/v1` and `/v1/x`, not `/v10`). */
function prefixCovers(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  if (!path.startsWith(prefix)) return false;
  const next = path.charAt(prefix.length);
  return next === '' || next === '/';
}

/** Normalizes a host as it appears in CONNECT or Host: lower case, no trailing dot. */
export function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The row that governs `host` + `path` (path without query), or undefined when the host is not
 * intercepted at all. Routing is by path: every path of an intercepted host has a row.
 */
export function resolveRoute(host: string, path: string): Route | undefined {
  const rows = ROUTES_BY_HOST.get(normalizeHost(host));
  if (!rows) return undefined;
  const pathOnly = path.split('?', 1)[0] ?? '/';
  return rows.find((row) => prefixCovers(row.pathPrefix, pathOnly));
}

/** True when Heimdall terminates TLS for this host. */
export function isInterceptedHost(host: string): boolean {
  return ROUTES_BY_HOST.has(normalizeHost(host));
}

/** Hosts whose TLS Heimdall terminates: leaves minted at start, sent to the proxy by the PAC. */
export function interceptedHosts(): string[] {
  return [...ROUTES_BY_HOST.keys()];
}

/** DNS names for the CA's critical nameConstraints: the contract's intercepted hosts. */
export function permittedDomains(): string[] {
  return contractPermittedDomains();
}

/** The gateway path for a request on a gateway route, in the given mode. */
export function gatewayPath(route: GatewayRouteRow, passthrough: boolean, pathAndQuery: string): string {
  const prefix = passthrough || route.credentialPolicy === 'native-only' ? route.passthroughRoute : route.gatewayRoute;
  return prefix + pathAndQuery;
}
