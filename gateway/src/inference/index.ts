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
export { ERROR_SHAPES, ERROR_KIND_STATUS, providerError, type ErrorFormat, type ErrorKind, type ProviderError } from './error-shapes.ts';
export { PROVIDERS, PROVIDER_IDS, type ProviderId } from './providers.ts';
export { INFERENCE_ROUTES, type InferenceRoute, type Endpoint } from './routes.ts';
export { VIRTUAL_KEY_PREFIX } from './credentials.ts';
