// The inference contract's route half: the hosts the agent intercepts (the names the interception
// CA is constrained to, whichever side signs it), the inference providers and the error format
// their clients read, and the gateway's drop-in and passthrough route prefixes the agent rewrites
// requests onto. The agent's routing table (agent/src/forward/routes.ts) names these prefixes by
// type; the gateway's router (gateway/src/inference/routes.ts) serves each of them.
import type { ErrorFormat } from './provider-errors.ts';

/** Hosts whose TLS the agent terminates; one row or more each in the agent's routing table. */
export const INTERCEPTED_HOSTS = ['api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'chatgpt.com', 'claude.ai'] as const;
export type InterceptedHost = (typeof INTERCEPTED_HOSTS)[number];

/**
 * DNS names for the interception CA's critical nameConstraints: exactly the intercepted hosts (a
 * dNSName constraint also permits subdomains, which nothing intercepts but a constraint cannot forbid).
 */
export function permittedDomains(): string[] {
  return [...INTERCEPTED_HOSTS];
}

/** Providers the gateway's inference routes serve, with the error format their clients parse. */
export const INFERENCE_PROVIDERS = {
  openai: { errorFormat: 'openai' },
  anthropic: { errorFormat: 'anthropic' },
  genai: { errorFormat: 'google' },
  chatgpt: { errorFormat: 'openai' },
} as const satisfies Record<string, { errorFormat: ErrorFormat }>;
export type InferenceProvider = keyof typeof INFERENCE_PROVIDERS;
export const INFERENCE_PROVIDER_IDS = Object.keys(INFERENCE_PROVIDERS) as InferenceProvider[];

/** The error format an app talking to `provider` reads. */
export function errorFormatOf(provider: InferenceProvider): ErrorFormat {
  return INFERENCE_PROVIDERS[provider].errorFormat;
}

/** A route prefix always starts with a slash and owns whole segments below it. */
export type RoutePrefix = `/${string}`;

export interface GatewayRouteContract {
  prefix: RoutePrefix;
  provider: InferenceProvider;
  /**
   * `drop-in`: the gateway authenticates the virtual key and presents its own provider key;
   * `passthrough`: the path after the prefix goes to the provider as is, with the app's credential
   * when the request says so (x-bf-direct-key).
   */
  kind: 'drop-in' | 'passthrough';
}

// Names and prefixes follow Bifrost's drop-in integrations (transports/bifrost-http/integrations):
// `/openai`, `/anthropic`, `/genai`, and the `*_passthrough` routers; `/chatgpt_passthrough`
// serves only the Codex responses path.
export const GATEWAY_ROUTES = {
  openai: { prefix: '/openai', provider: 'openai', kind: 'drop-in' },
  anthropic: { prefix: '/anthropic', provider: 'anthropic', kind: 'drop-in' },
  genai: { prefix: '/genai', provider: 'genai', kind: 'drop-in' },
  openai_passthrough: { prefix: '/openai_passthrough', provider: 'openai', kind: 'passthrough' },
  anthropic_passthrough: { prefix: '/anthropic_passthrough', provider: 'anthropic', kind: 'passthrough' },
  genai_passthrough: { prefix: '/genai_passthrough', provider: 'genai', kind: 'passthrough' },
  chatgpt_passthrough: { prefix: '/chatgpt_passthrough', provider: 'chatgpt', kind: 'passthrough' },
} as const satisfies Record<string, GatewayRouteContract>;

export type GatewayRouteName = keyof typeof GATEWAY_ROUTES;
export type GatewayRoutePrefix = (typeof GATEWAY_ROUTES)[GatewayRouteName]['prefix'];
export const GATEWAY_ROUTE_NAMES = Object.keys(GATEWAY_ROUTES) as GatewayRouteName[];

/** The contract row whose prefix is `prefix`, if any. */
export function gatewayRouteByPrefix(prefix: string): (GatewayRouteContract & { name: GatewayRouteName }) | undefined {
  const name = GATEWAY_ROUTE_NAMES.find((n) => GATEWAY_ROUTES[n].prefix === prefix);
  return name === undefined ? undefined : { name, ...GATEWAY_ROUTES[name] };
}
