// The error bodies each provider's clients understand, as one table: the gateway answers its own
// errors (bad virtual key, upstream down, timeout) in the shape of the provider the app talks to,
// and the demo upstream uses the same table so both sides agree.

/** Which wire format an error is written in. ChatGPT's Codex backend speaks the OpenAI shape. */
export type ErrorFormat = 'openai' | 'anthropic' | 'google';

/** What went wrong, independent of format; each kind has one HTTP status. */
export type ErrorKind =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'request_timeout'
  | 'upgrade_required'
  | 'internal'
  | 'bad_gateway'
  | 'unavailable'
  | 'timeout';

export const ERROR_KIND_STATUS = {
  invalid_request: 400,
  authentication: 401,
  permission: 403,
  not_found: 404,
  request_timeout: 408,
  upgrade_required: 426,
  internal: 500,
  bad_gateway: 502,
  unavailable: 503,
  timeout: 504,
} as const satisfies Record<ErrorKind, number>;

interface ErrorShape {
  /** The provider's name for the error class (OpenAI `type`, Anthropic `error.type`, Google `status`). */
  names: Record<ErrorKind, string>;
  body(kind: ErrorKind, name: string, message: string): unknown;
}

// OpenAI: {"error":{"message","type","param","code"}}; `code` carries the specific reason.
// Anthropic: {"type":"error","error":{"type","message"}}.
// Google (GenAI): {"error":{"code":<http status>,"message","status":<canonical code>}}.
export const ERROR_SHAPES = {
  openai: {
    names: {
      invalid_request: 'invalid_request_error',
      authentication: 'invalid_request_error',
      permission: 'permission_error',
      not_found: 'invalid_request_error',
      request_timeout: 'invalid_request_error',
      upgrade_required: 'invalid_request_error',
      internal: 'server_error',
      bad_gateway: 'server_error',
      unavailable: 'server_error',
      timeout: 'server_error',
    },
    body: (kind, name, message) => ({ error: { message, type: name, param: null, code: OPENAI_CODES[kind] } }),
  },
  anthropic: {
    names: {
      invalid_request: 'invalid_request_error',
      authentication: 'authentication_error',
      permission: 'permission_error',
      not_found: 'not_found_error',
      request_timeout: 'invalid_request_error',
      upgrade_required: 'invalid_request_error',
      internal: 'api_error',
      bad_gateway: 'api_error',
      unavailable: 'overloaded_error',
      timeout: 'timeout_error',
    },
    body: (_kind, name, message) => ({ type: 'error', error: { type: name, message } }),
  },
  google: {
    names: {
      invalid_request: 'INVALID_ARGUMENT',
      authentication: 'UNAUTHENTICATED',
      permission: 'PERMISSION_DENIED',
      not_found: 'NOT_FOUND',
      request_timeout: 'DEADLINE_EXCEEDED',
      upgrade_required: 'FAILED_PRECONDITION',
      internal: 'INTERNAL',
      bad_gateway: 'UNAVAILABLE',
      unavailable: 'UNAVAILABLE',
      timeout: 'DEADLINE_EXCEEDED',
    },
    body: (kind, name, message) => ({ error: { code: ERROR_KIND_STATUS[kind], message, status: name } }),
  },
} as const satisfies Record<ErrorFormat, ErrorShape>;

const OPENAI_CODES = {
  invalid_request: null,
  authentication: 'invalid_api_key',
  permission: 'permission_denied',
  not_found: 'unknown_url',
  request_timeout: 'request_timeout',
  upgrade_required: 'upgrade_required',
  internal: null,
  bad_gateway: 'bad_gateway',
  unavailable: 'service_unavailable',
  timeout: 'gateway_timeout',
} as const satisfies Record<ErrorKind, string | null>;

export interface ProviderError {
  status: number;
  /** JSON text of the body, ready to send. */
  body: string;
}

/** Builds the status and JSON body of an error in `format`. */
export function providerError(format: ErrorFormat, kind: ErrorKind, message: string): ProviderError {
  const shape: ErrorShape = ERROR_SHAPES[format];
  return { status: ERROR_KIND_STATUS[kind], body: JSON.stringify(shape.body(kind, shape.names[kind], message)) };
}
