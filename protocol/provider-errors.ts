// The inference contract's error half: the JSON error body each provider's clients parse, as one
// table. The gateway answers its refusals (bad virtual key, no upstream, timeout) and the agent its
// own (blocked, not signed in, gateway unreachable) in the shape of the provider the app talks to,
// both through this module, so an app sees the same class of error from either side.

/** Which wire format an error is written in. ChatGPT's Codex backend speaks the OpenAI shape. */
export const ERROR_FORMATS = ['openai', 'anthropic', 'google'] as const;
export type ErrorFormat = (typeof ERROR_FORMATS)[number];

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

export const ERROR_KINDS = Object.keys(ERROR_KIND_STATUS) as ErrorKind[];

// Each provider's name for the error class, from its documented error types:
// - OpenAI (platform.openai.com/docs/guides/error-codes): the API answers a bad key with
//   `invalid_request_error` + code `invalid_api_key`, and server trouble with `server_error`; SDKs
//   pick their exception class from the HTTP status, `code` carries the specific reason.
// - Anthropic (docs.anthropic.com/en/api/errors): invalid_request_error 400, authentication_error
//   401, permission_error 403, not_found_error 404, api_error 500, timeout_error 504, and
//   overloaded_error only for 529, Anthropic's own capacity. A gateway with no upstream or an
//   unreachable one is not "Anthropic is overloaded" (Claude Code prints exactly that), so 502 and
//   503 are `api_error`.
// - Google (cloud.google.com/apis/design/errors): the canonical code of google.rpc.Code per status.
export const ERROR_NAMES = {
  openai: {
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
  anthropic: {
    invalid_request: 'invalid_request_error',
    authentication: 'authentication_error',
    permission: 'permission_error',
    not_found: 'not_found_error',
    request_timeout: 'invalid_request_error',
    upgrade_required: 'invalid_request_error',
    internal: 'api_error',
    bad_gateway: 'api_error',
    unavailable: 'api_error',
    timeout: 'timeout_error',
  },
  google: {
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
} as const satisfies Record<ErrorFormat, Record<ErrorKind, string>>;

/** OpenAI's `code` when the caller names no more specific one. */
export const DEFAULT_OPENAI_CODES = {
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

// The envelopes: OpenAI {"error":{"message","type","param","code"}}; Anthropic
// {"type":"error","error":{"type","message"}}; Google {"error":{"code":<status>,"message","status"}}.
const ENVELOPES: Record<ErrorFormat, (kind: ErrorKind, message: string, openaiCode: string | null, status: number) => unknown> = {
  openai: (kind, message, code) => ({ error: { message, type: ERROR_NAMES.openai[kind], param: null, code } }),
  anthropic: (kind, message) => ({ type: 'error', error: { type: ERROR_NAMES.anthropic[kind], message } }),
  google: (kind, message, _code, status) => ({ error: { code: status, message, status: ERROR_NAMES.google[kind] } }),
};

export interface ProviderErrorOptions {
  /** OpenAI's `code`, when the situation has a more specific one than the kind's default. */
  openaiCode?: string | null;
  /**
   * The HTTP status when an app needs another one than the kind's to treat the answer as final
   * (block-answers.ts: Claude Code reads 451 as final where 403 reads as a sign-in problem).
   */
  status?: number;
}

export interface ProviderError {
  status: number;
  /** JSON text of the body, ready to send. */
  body: string;
}

/** Builds the status and JSON body of an error of `kind` in `format`. */
export function providerError(format: ErrorFormat, kind: ErrorKind, message: string, options: ProviderErrorOptions = {}): ProviderError {
  const code = options.openaiCode === undefined ? DEFAULT_OPENAI_CODES[kind] : options.openaiCode;
  const status = options.status ?? ERROR_KIND_STATUS[kind];
  return { status, body: JSON.stringify(ENVELOPES[format](kind, message, code, status)) };
}
