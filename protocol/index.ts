// The contracts between the agent and the gateway, the code both sides import: the edge protocol
// with the control plane (docs/protocol.md is the prose: message schemas and types, limits, close
// codes, parsing) and the inference contract (routes and provider error shapes).
export * from './messages.ts';
export * from './sso.ts';
export { CONNECT_PATH, ENROLL_PATH, CHALLENGE_PATH, TOKEN_PATH, DEVICE_TOKEN_HEADER, SUBPROTOCOL, LIMITS, TIMING, CLOSE_CODES, reconnectDelayMs, type CloseCodeName } from './limits.ts';
export { deviceProofText, checkDevicePublicKey, verifyDeviceProof, type DeviceProofPurpose, type DeviceKeyAlgorithm } from './device-proof.ts';
export { KNOWN_APP_IDS, type KnownAppId } from './app-ids.ts';
export { parseMessage, encodeMessage, closeReason, type Direction, type ParseResult, type ProtocolError, type ProtocolErrorKind } from './parse.ts';
export { protocolSchemaDocs, renderSchemaBlocks, type SchemaDoc, type RenderResult } from './json-schema.ts';
// The inference contract: the routes the agent rewrites onto and the gateway serves, and the
// provider-shaped error bodies both sides answer with.
export {
  INTERCEPTED_HOSTS, permittedDomains, INFERENCE_PROVIDERS, INFERENCE_PROVIDER_IDS, errorFormatOf, GATEWAY_ROUTES, GATEWAY_ROUTE_NAMES, gatewayRouteByPrefix,
  type InterceptedHost, type InferenceProvider, type RoutePrefix, type GatewayRouteContract, type GatewayRouteName, type GatewayRoutePrefix,
} from './inference-routes.ts';
export {
  ERROR_FORMATS, ERROR_KINDS, ERROR_KIND_STATUS, ERROR_NAMES, DEFAULT_OPENAI_CODES, providerError,
  type ErrorFormat, type ErrorKind, type ProviderError, type ProviderErrorOptions,
} from './provider-errors.ts';
export {
  BLOCK_ANSWER_ROWS, DEFAULT_BLOCK_ANSWERS, RESPONSES_WEBSOCKET_REFUSAL, blockAnswerFor, type BlockAnswer, type BlockAnswerRow, type FinalSituation,
} from './block-answers.ts';
