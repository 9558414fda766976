// The edge protocol between the agent and the control plane (docs/protocol.md is the prose; this is
// the code both sides import): message schemas and types, limits, close codes, parsing.
export * from './messages.ts';
export { CONNECT_PATH, ENROLL_PATH, SUBPROTOCOL, LIMITS, TIMING, CLOSE_CODES, reconnectDelayMs, type CloseCodeName } from './limits.ts';
export { parseMessage, encodeMessage, closeReason, type Direction, type ParseResult, type ProtocolError, type ProtocolErrorKind } from './parse.ts';
export { protocolSchemaDocs, renderSchemaBlocks, type SchemaDoc, type RenderResult } from './json-schema.ts';
