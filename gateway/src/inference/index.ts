// Door of the gateway's inference room: Bifrost-compatible drop-in and passthrough routes that
// authenticate the virtual key and forward to the configured providers or an upstream Bifrost.
export { createInferenceHandler, type InferenceHandler, type InferenceHandlerDeps, type VirtualKeyIdentity } from './handler.ts';
export type { InferenceAuditEvent, InferenceOutcome } from './audit.ts';
export {
  loadProviderConfig,
  InferenceConfigError,
  DEFAULT_TIMEOUTS,
  Secret,
  type ProviderConfig,
  type ProviderUpstream,
  type InferenceTimeouts,
  type InferenceSection,
} from './config.ts';
// The error shapes are the inference contract's (protocol/provider-errors.ts); re-exported for the demo upstream.
export { ERROR_KIND_STATUS, providerError, type ErrorFormat, type ErrorKind, type ProviderError } from '../../../protocol/index.ts';
export { PROVIDERS, PROVIDER_IDS, type ProviderId } from './providers.ts';
export { INFERENCE_ROUTES, matchRoute, matchEndpoint, type InferenceRoute, type Endpoint, type RouteMatch, type EndpointMatch } from './routes.ts';
export { VIRTUAL_KEY_PREFIX } from './credentials.ts';
