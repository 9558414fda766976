// The gateway's inference router: for each route of the inference contract (protocol/
// inference-routes.ts: name, prefix, provider, drop-in or passthrough) the endpoints it serves. The
// client-facing paths match maximhq/bifrost transports/bifrost-http/integrations/*.go. A drop-in
// route serves the listed endpoints only; a passthrough route forwards any safe path under its
// prefix, unless it lists some.
import { GATEWAY_ROUTES, GATEWAY_ROUTE_NAMES, type GatewayRouteContract, type GatewayRouteName } from '../../../protocol/index.ts';

export type Transport = 'http' | 'websocket';

export interface Endpoint {
  /** Bounded name for audit and metrics, e.g. `openai.chat.completions`. */
  id: string;
  methods: readonly string[];
  /** Matched against the path after the route prefix (the provider's own path, e.g. `/v1/messages`). */
  path: RegExp;
  transport: Transport;
}

interface RouteEndpoints {
  endpoints: readonly Endpoint[] | 'any';
  /** Where the model name sits in the path, when it does (Google puts it there). */
  modelInPath?: RegExp;
}

export interface InferenceRoute extends GatewayRouteContract, RouteEndpoints {
  name: GatewayRouteName;
}

const GENAI_MODEL = /^\/v1(?:beta|alpha)?\d*\/models\/([^/:]+)/;
const GENAI_VERSION = String.raw`\/v1(?:beta|alpha)?\d*`;

function http(id: string, methods: readonly string[], path: RegExp): Endpoint {
  return { id, methods, path, transport: 'http' };
}

// Keyed by the contract's route names: a contract route without endpoints here is a compile error.
const ROUTE_ENDPOINTS = {
  openai: {
    endpoints: [
      http('openai.chat.completions', ['POST'], /^\/v1\/chat\/completions$/),
      http('openai.completions', ['POST'], /^\/v1\/completions$/),
      http('openai.responses', ['POST'], /^\/v1\/responses$/),
      // Codex opens the Responses API as a websocket (GET + Upgrade) before falling back to SSE.
      { id: 'openai.responses.websocket', methods: ['GET'], path: /^\/v1\/responses$/, transport: 'websocket' },
      http('openai.responses.compact', ['POST'], /^\/v1\/responses\/compact$/),
      http('openai.responses.input_tokens', ['POST'], /^\/v1\/responses\/input_tokens$/),
      http('openai.responses.item', ['GET', 'DELETE'], /^\/v1\/responses\/[A-Za-z0-9_-]+$/),
      http('openai.responses.cancel', ['POST'], /^\/v1\/responses\/[A-Za-z0-9_-]+\/cancel$/),
      http('openai.responses.input_items', ['GET'], /^\/v1\/responses\/[A-Za-z0-9_-]+\/input_items$/),
      http('openai.embeddings', ['POST'], /^\/v1\/embeddings$/),
      http('openai.models', ['GET'], /^\/v1\/models(?:\/[^/]+)?$/),
    ],
  },
  anthropic: {
    endpoints: [
      http('anthropic.messages', ['POST'], /^\/v1\/messages$/),
      http('anthropic.count_tokens', ['POST'], /^\/v1\/messages\/count_tokens$/),
      http('anthropic.complete', ['POST'], /^\/v1\/complete$/),
      http('anthropic.models', ['GET'], /^\/v1\/models(?:\/[^/]+)?$/),
    ],
  },
  genai: {
    modelInPath: GENAI_MODEL,
    endpoints: [
      http('genai.generate_content', ['POST'], new RegExp(`^${GENAI_VERSION}\\/models\\/[^/:]+:generateContent$`)),
      http('genai.stream_generate_content', ['POST'], new RegExp(`^${GENAI_VERSION}\\/models\\/[^/:]+:streamGenerateContent$`)),
      http('genai.count_tokens', ['POST'], new RegExp(`^${GENAI_VERSION}\\/models\\/[^/:]+:countTokens$`)),
      http('genai.embed_content', ['POST'], new RegExp(`^${GENAI_VERSION}\\/models\\/[^/:]+:(?:embedContent|batchEmbedContents)$`)),
      http('genai.models', ['GET'], new RegExp(`^${GENAI_VERSION}\\/models(?:\\/[^/:]+)?$`)),
    ],
  },
  openai_passthrough: { endpoints: 'any' },
  anthropic_passthrough: { endpoints: 'any' },
  genai_passthrough: { endpoints: 'any', modelInPath: GENAI_MODEL },
  chatgpt_passthrough: {
    // Bifrost restricts this route to the Codex responses endpoint; it is not a ChatGPT backend proxy.
    endpoints: [
      http('chatgpt_passthrough.codex.responses', ['POST'], /^\/backend-api\/codex\/responses$/),
      // Not in Bifrost (POST only): Codex signed in with ChatGPT opens this path as a websocket first.
      { id: 'chatgpt_passthrough.codex.responses.websocket', methods: ['GET'], path: /^\/backend-api\/codex\/responses$/, transport: 'websocket' },
    ],
  },
} as const satisfies Record<GatewayRouteName, RouteEndpoints>;

export const INFERENCE_ROUTES: readonly InferenceRoute[] = GATEWAY_ROUTE_NAMES.map((name) => ({
  name,
  ...GATEWAY_ROUTES[name],
  ...(ROUTE_ENDPOINTS[name] as RouteEndpoints),
}));

export interface RouteMatch {
  route: InferenceRoute;
  /** The path after the prefix, always starting with `/` (the provider's own path). */
  rest: string;
}

/** Finds the route whose prefix owns `path` (prefixes match whole segments only). */
export function matchRoute(path: string): RouteMatch | undefined {
  for (const route of INFERENCE_ROUTES) {
    if (path === route.prefix) return { route, rest: '/' };
    if (path.startsWith(route.prefix + '/')) return { route, rest: path.slice(route.prefix.length) };
  }
  return undefined;
}

export type EndpointMatch = { ok: true; id: string } | { ok: false; reason: 'not_found' | 'needs_upgrade' };

/** Decides whether `method rest` over `transport` is served by `route`, and under which endpoint id. */
export function matchEndpoint(route: InferenceRoute, method: string, rest: string, transport: Transport): EndpointMatch {
  if (route.endpoints === 'any') return { ok: true, id: transport === 'websocket' ? `${route.name}.websocket` : route.name };
  let needsUpgrade = false;
  for (const e of route.endpoints) {
    if (!e.methods.includes(method) || !e.path.test(rest)) continue;
    if (e.transport === transport) return { ok: true, id: e.id };
    if (e.transport === 'websocket') needsUpgrade = true;
  }
  return { ok: false, reason: needsUpgrade ? 'needs_upgrade' : 'not_found' };
}

/**
 * Rejects paths that could change how the upstream URL is read once joined to a base URL
 * (the same rules as Bifrost's passthrough: rooted by one `/`, no `..`, no backslash, no scheme,
 * no control characters, no `@` in the first segment), checked raw and percent-decoded.
 */
export function unsafePathReason(path: string): string | undefined {
  const raw = checkPath(path);
  if (raw) return raw;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 'malformed percent-encoding';
  }
  return decoded === path ? undefined : checkPath(decoded);
}

function checkPath(p: string): string | undefined {
  if (!p.startsWith('/')) return 'must start with /';
  if (p.startsWith('//')) return 'must not start with //';
  if (p.includes('\\')) return 'must not contain a backslash';
  if (p.includes('://')) return 'must not contain a scheme';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'must not contain control characters';
  if (p.split('/').some((s) => s === '..' || s === '.')) return 'must not contain . or .. segments';
  const first = p.slice(1).split('/', 1)[0] ?? '';
  if (first.includes('@')) return 'first segment must not contain @';
  return undefined;
}
