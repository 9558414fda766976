// Errors Heimdall itself answers to an app, in the app's provider's own JSON shape, so the app
// shows the person a sentence they understand (with the organization's support URL) instead of
// a parse error. One row per error kind, one column per provider shape.
import type { ErrorShapeId } from './routes.ts';

export type ErrorKind =
  | 'blocked'
  | 'not_signed_in'
  | 'gateway_unreachable'
  | 'gateway_timeout'
  | 'bad_request'
  | 'origin_unreachable'
  | 'internal';

interface ErrorKindRow {
  status: number;
  /** The sentence a person reads; `{detail}` is the situation-specific part. */
  sentence: string;
  openai: { type: string; code: string };
  anthropic: { type: string };
  google: { status: string };
}

const ERROR_KINDS: Record<ErrorKind, ErrorKindRow> = {
  blocked: {
    status: 403,
    sentence: 'Your organization blocks this request: {detail}',
    openai: { type: 'permission_error', code: 'heimdall_blocked' },
    anthropic: { type: 'permission_error' },
    google: { status: 'PERMISSION_DENIED' },
  },
  not_signed_in: {
    status: 401,
    sentence: 'This machine has no AI gateway credential for you yet. Run `heimdall login` in a terminal, then try again.',
    openai: { type: 'authentication_error', code: 'heimdall_not_signed_in' },
    anthropic: { type: 'authentication_error' },
    google: { status: 'UNAUTHENTICATED' },
  },
  gateway_unreachable: {
    status: 502,
    sentence: "Heimdall could not reach your organization's AI gateway ({detail}). Try again in a minute.",
    openai: { type: 'server_error', code: 'heimdall_gateway_unreachable' },
    anthropic: { type: 'api_error' },
    google: { status: 'UNAVAILABLE' },
  },
  gateway_timeout: {
    status: 504,
    sentence: "Your organization's AI gateway did not answer in time ({detail}). Try again in a minute.",
    openai: { type: 'server_error', code: 'heimdall_gateway_timeout' },
    anthropic: { type: 'timeout_error' },
    google: { status: 'DEADLINE_EXCEEDED' },
  },
  origin_unreachable: {
    status: 502,
    sentence: 'Heimdall could not reach {detail}. Try again in a minute.',
    openai: { type: 'server_error', code: 'heimdall_origin_unreachable' },
    anthropic: { type: 'api_error' },
    google: { status: 'UNAVAILABLE' },
  },
  bad_request: {
    status: 400,
    sentence: 'Heimdall could not forward this request: {detail}',
    openai: { type: 'invalid_request_error', code: 'heimdall_bad_request' },
    anthropic: { type: 'invalid_request_error' },
    google: { status: 'INVALID_ARGUMENT' },
  },
  internal: {
    status: 500,
    sentence: 'Heimdall failed while handling this request ({detail}).',
    openai: { type: 'server_error', code: 'heimdall_internal_error' },
    anthropic: { type: 'api_error' },
    google: { status: 'INTERNAL' },
  },
};

export interface ProviderError {
  status: number;
  /** The human sentence, support URL included. */
  message: string;
  /** JSON body in the provider's shape. */
  body: string;
}

/** Builds the provider-shaped error for `kind`; `supportUrl` is appended when the org set one. */
export function providerError(shape: ErrorShapeId, kind: ErrorKind, detail: string, supportUrl: string | undefined): ProviderError {
  const row = ERROR_KINDS[kind];
  const sentence = row.sentence.replace('{detail}', detail);
  // A policy message already ends with where to ask for access; saying it twice reads as a glitch.
  const mentionsSupport = supportUrl !== undefined && sentence.includes(supportUrl.replace(/\/+$/, ''));
  const message = supportUrl && !mentionsSupport ? `${sentence} Help: ${supportUrl}` : sentence;
  let body: unknown;
  switch (shape) {
    case 'openai':
      body = { error: { message, type: row.openai.type, code: row.openai.code, param: null } };
      break;
    case 'anthropic':
      body = { type: 'error', error: { type: row.anthropic.type, message } };
      break;
    case 'google':
      body = { error: { code: row.status, message, status: row.google.status } };
      break;
  }
  return { status: row.status, message, body: JSON.stringify(body) };
}

export function errorStatus(kind: ErrorKind): number {
  return ERROR_KINDS[kind].status;
}
