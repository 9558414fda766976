// The forward room's door: the routing table, provider error shapes, and the forwarder that takes
// an intercepted exchange to the gateway or to its origin.
export {
  ROUTES, resolveRoute, isInterceptedHost, interceptedHosts, permittedDomains, normalizeHost, gatewayPath,
} from './routes.ts';
export type {
  Route, RouteId, RouteRow, RouteMode, GatewayRouteRow, OriginRouteRow, Provider, ErrorShapeId, CredentialHeader, PathPrefix,
} from './routes.ts';
export { providerError, finalAnswer, errorStatus, contractKindOf, NOT_SIGNED_IN_SENTENCE, GATEWAY_UNREACHABLE_SENTENCE } from './error-shapes.ts';
export type { ErrorKind, ProviderError, FinalAnswer } from './error-shapes.ts';
export { Forwarder, DEFAULT_FORWARD_TIMEOUTS, productionOriginResolver, writeRawError } from './forwarder.ts';
export type { ForwarderOptions, ForwardTarget, ForwardResult, ForwardTimeouts, OriginResolver, OriginTarget } from './forwarder.ts';
export { DnsCache } from './dns-cache.ts';
export type { DnsCacheOptions } from './dns-cache.ts';
export { headersWithoutSecrets, boundedAppId, requestIdFrom, type GatewayCredential } from './headers.ts';
export { osTrustContext } from './trusted-roots.ts';
