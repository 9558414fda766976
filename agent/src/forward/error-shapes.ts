// Errors Heimdall itself answers to an app, in the app's provider's own JSON shape, so the app
// shows the person a sentence they understand (with the organization's support URL) instead of
// a parse error. One row per situation: its sentence, its error kind in the inference contract
// (protocol/provider-errors.ts owns the status and each provider's envelope, shared with the
// gateway), and the OpenAI `code` that tells Heimdall's answers from the gateway's.
import {
  blockAnswerFor, ERROR_KIND_STATUS, providerError as contractProviderError, type ErrorKind as ContractErrorKind, type FinalSituation,
} from '../../../protocol/index.ts';
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
  /** The sentence a person reads; `{detail}` is the situation-specific part. */
  sentence: string;
  kind: ContractErrorKind;
  openaiCode: string;
}

/**
 * The sentence for a person who is not signed in, naming the exact command (the sign-in path uses it
 * too, so every place that says it says it the same way).
 */
export const NOT_SIGNED_IN_SENTENCE = 'You are not signed in to your organization\'s AI gateway on this machine. Run `heimdall login` in a terminal, then try again.';

/** The sentence when the gateway cannot be reached: transient, and not the person's doing. */
export const GATEWAY_UNREACHABLE_SENTENCE = "Heimdall could not reach your organization's AI gateway ({detail}). This is not something you did wrong: try again in a few minutes.";

const ERROR_KINDS: Record<ErrorKind, ErrorKindRow> = {
  // The policy room's sentence is whole (what happened, what to do, where to ask): it is sent as is.
  blocked: {
    sentence: '{detail}',
    kind: 'permission',
    openaiCode: 'heimdall_blocked',
  },
  not_signed_in: {
    sentence: NOT_SIGNED_IN_SENTENCE,
    kind: 'authentication',
    openaiCode: 'heimdall_not_signed_in',
  },
  gateway_unreachable: {
    sentence: GATEWAY_UNREACHABLE_SENTENCE,
    kind: 'bad_gateway',
    openaiCode: 'heimdall_gateway_unreachable',
  },
  gateway_timeout: {
    sentence: "Your organization's AI gateway did not answer in time ({detail}). Try again in a minute.",
    kind: 'timeout',
    openaiCode: 'heimdall_gateway_timeout',
  },
  origin_unreachable: {
    sentence: 'Heimdall could not reach {detail}. Try again in a minute.',
    kind: 'bad_gateway',
    openaiCode: 'heimdall_origin_unreachable',
  },
  bad_request: {
    sentence: 'Heimdall could not forward this request: {detail}',
    kind: 'invalid_request',
    openaiCode: 'heimdall_bad_request',
  },
  internal: {
    sentence: 'Heimdall failed while handling this request ({detail}).',
    kind: 'internal',
    openaiCode: 'heimdall_internal_error',
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
  const error = contractProviderError(shape, row.kind, message, { openaiCode: row.openaiCode });
  return { status: error.status, message, body: error.body };
}

/** A final refusal as the app on the other end must get it (protocol/block-answers.ts). */
export interface FinalAnswer extends ProviderError {
  contentType: string;
  /** Extra response fields: `x-should-retry: false` tells the official SDKs this is final. */
  headers: Record<string, string>;
  /** Set when the refusal is given inside an accepted websocket instead of as an HTTP answer. */
  inBand?: 'responses-websocket';
}

/**
 * Builds a final refusal (blocked, not signed in) for `appId` on `transport`: the status and body
 * the block table says that app stops at and prints, with the same sentence as `providerError`.
 */
export function finalAnswer(
  shape: ErrorShapeId, situation: FinalSituation, detail: string, supportUrl: string | undefined,
  app: { appId: string | undefined; transport: 'http' | 'websocket'; path?: string },
): FinalAnswer {
  const answer = blockAnswerFor(app.appId, app.transport, situation, app.path);
  const plain = providerError(shape, situation, detail, supportUrl);
  const headers = { 'x-should-retry': 'false' };
  if (answer.body === 'empty-model-catalog') {
    return { status: answer.status, message: plain.message, body: '{"models":[]}', contentType: 'application/json', headers };
  }
  if (answer.body === 'responses-websocket') {
    return { status: answer.status, message: plain.message, body: plain.message, contentType: 'application/json', headers, inBand: 'responses-websocket' };
  }
  if (answer.body === 'plain-text') {
    return { status: answer.status, message: plain.message, body: `${plain.message}\n`, contentType: 'text/plain; charset=utf-8', headers };
  }
  const row = ERROR_KINDS[situation];
  const error = contractProviderError(shape, row.kind, plain.message, { openaiCode: row.openaiCode, status: answer.status });
  return { status: error.status, message: plain.message, body: error.body, contentType: 'application/json', headers };
}

export function errorStatus(kind: ErrorKind): number {
  return ERROR_KIND_STATUS[ERROR_KINDS[kind].kind];
}

/** The contract's error kind each of Heimdall's situations is answered as (for the drift test). */
export function contractKindOf(kind: ErrorKind): ContractErrorKind {
  return ERROR_KINDS[kind].kind;
}
