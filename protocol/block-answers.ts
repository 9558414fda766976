// How a final "no" (an app denied or pending, a person not signed in) must be answered so that each
// real app stops at once and shows the sentence: one row per app and transport, found from the app's
// own source where it is open and by experiment where it is not (docs/inference.md, "Blocks, per app",
// has the evidence of each row). Beside provider-errors.ts, whose envelopes the JSON bodies use; the
// agent answers with it, and the gateway may answer its own final refusals with it too.
import type { KnownAppId } from './app-ids.ts';

/** What Heimdall says no for, independent of app: both are final until a person acts. */
export type FinalSituation = 'blocked' | 'not_signed_in';

export interface BlockAnswer {
  /**
   * HTTP status the app treats as final (no retry loop, no misleading prefix); 101 for an answer given
   * inside an accepted websocket (`responses-websocket`).
   */
  status: 101 | 200 | 400 | 401 | 403 | 451;
  /**
   * `provider-json`: the provider's error envelope (protocol/provider-errors.ts) carrying the sentence.
   * `plain-text`: the sentence alone, for an app that prints a non-JSON error body verbatim.
   * `responses-websocket`: the upgrade is accepted and the refusal given in the OpenAI Responses
   * websocket protocol (RESPONSES_WEBSOCKET_REFUSAL): a start-up prewarm (`response.create` with
   * `generate: false`) completes empty, the turn's `response.create` gets `response.failed` carrying
   * the sentence, then the socket closes.
   * `empty-model-catalog`: `{"models":[]}`, for an app's model-catalog call that it logs as an error
   * line carrying the sentence when refused (Codex's `GET chatgpt.com/backend-api/codex/models`): the app keeps its bundled
   * catalog, says nothing, and the person meets the refusal once, on the turn.
   */
  body: 'provider-json' | 'plain-text' | 'responses-websocket' | 'empty-model-catalog';
  /**
   * Whether the answer carries `retry-after`. Never for a final answer: the official SDKs (openai,
   * @anthropic-ai/sdk) retry a 4xx only when told (`x-should-retry: true`, 408/409/429) and honour
   * `retry-after` on those; every final answer also says `x-should-retry: false`.
   */
  retryAfter: false;
  /** Where the row comes from: the app's source file or the experiment that found it. */
  evidence: string;
}

export interface BlockAnswerRow {
  app: KnownAppId;
  /** `any`, or only requests in this transport (Codex's websocket leg and its SSE fallback). */
  transport: 'any' | 'http' | 'websocket';
  /** Only requests to exactly this path (no query); rows with a path come before the app's others. */
  path?: string;
  answer: BlockAnswer;
}

// Checked against Claude Code 2.1.330, Codex CLI 0.169.0 and Gemini CLI 0.61.0 (the versions in
// package-lock.json); test/e2e/blocks-real-clis.test.ts fails when a new version reads them otherwise.
export const BLOCK_ANSWER_ROWS: readonly BlockAnswerRow[] = [
  {
    app: 'claude-code',
    transport: 'any',
    answer: {
      // 401 and 403 print "Failed to authenticate. API Error: 403 ..." (its auth branch, for both
      // statuses); 400 and 422 are sent six times; 402/410/412/451 once, as "API Error: 451 <message>".
      // 451 is the one of those whose meaning fits: the organization's rules refuse the resource.
      status: 451,
      body: 'provider-json',
      retryAfter: false,
      evidence: 'experiment: claude -p against a loopback server answering each status (docs/inference.md)',
    },
  },
  {
    app: 'codex-cli',
    transport: 'websocket',
    answer: {
      // `codex exec` opens a start-up websocket and sends a prewarm `response.create` (`generate:
      // false`) on it before the turn, then sends the turn's `response.create` on the same socket.
      // Refusing the upgrade (400, below) refuses that prewarm too: two upgrades per run, each logged
      // by Codex as "ERROR codex_api::endpoint::responses_websocket: failed to connect". Accepting it,
      // completing the prewarm empty and failing the turn with `response.failed` whose error code is
      // `invalid_prompt` (codex-api sse/responses.rs process_responses_event: a final invalid-request
      // error shown as its message alone, never retried) makes one run one refused turn.
      status: 101,
      body: 'responses-websocket',
      retryAfter: false,
      evidence: 'openai/codex codex-api sse/responses.rs process_responses_event (response.failed codes); experiment with codex exec 0.169.0: one upgrade, two frames, no retry',
    },
  },
  {
    app: 'codex-cli',
    transport: 'http',
    path: '/backend-api/codex/models',
    answer: {
      // Codex refreshes its model catalog from chatgpt.com at start-up, with an API key too (models-manager manager.rs
      // list_models/get_default_model): any error is logged as "ERROR codex_models_manager::manager:
      // failed to refresh available models: <body>", four times a run, each carrying the sentence.
      // An empty list is merged into its bundled catalog (apply_remote_models) without a word.
      status: 200,
      body: 'empty-model-catalog',
      retryAfter: false,
      evidence: 'openai/codex codex-rs models-manager manager.rs (refresh_available_models, apply_remote_models); experiment with codex exec 0.169.0 through the e2e harness',
    },
  },
  {
    app: 'codex-cli',
    transport: 'http',
    answer: {
      // codex-rs core/src/api_bridge.rs: a 400 is CodexErr::InvalidRequest (final, shown as its body);
      // any other 4xx but 429 is UnexpectedStatus, retried five times per transport ("Reconnecting...
      // n/5") and after the websocket's five, five more over SSE. A JSON body is printed raw; a text
      // body is the sentence alone. The SSE leg (`POST /v1/responses`, Codex without websockets).
      status: 400,
      body: 'plain-text',
      retryAfter: false,
      evidence: 'openai/codex codex-rs/core/src/api_bridge.rs map_api_error; experiment with codex exec 0.169.0',
    },
  },
  {
    app: 'gemini-cli',
    transport: 'any',
    answer: {
      // retryWithBackoff retries 429 and 5xx only; a 403 is sent once. Its message is shown from the
      // Google envelope (`error.message`). 401 is left out: an auth error restarts its auth flow.
      status: 403,
      body: 'provider-json',
      retryAfter: false,
      evidence: '@google/gemini-cli 0.61.0 bundle: retryWithBackoff, Turn.run, toFriendlyError; experiment with gemini -p',
    },
  },
];

/**
 * The Responses websocket frames of a `responses-websocket` refusal. Codex reads `response.failed`'s
 * `error.code`: `invalid_prompt` is final and shows `error.message` alone; other codes are retried
 * (`Retryable`) or replaced by Codex's own text (`insufficient_quota`: "Quota exceeded...").
 */
export const RESPONSES_WEBSOCKET_REFUSAL = {
  /** A `response.create` with `generate: false` only warms the connection: it completes empty. */
  prewarmCompleted: (id: string) => [
    { type: 'response.created', response: { id, object: 'response', status: 'in_progress', output: [] } },
    { type: 'response.completed', response: { id, object: 'response', status: 'completed', output: [], usage: null } },
  ],
  /** Any other `response.create`: the refusal. */
  failed: (id: string, sentence: string) => ({
    type: 'response.failed',
    response: { id, object: 'response', status: 'failed', output: [], error: { code: 'invalid_prompt', message: sentence } },
  }),
} as const;

/**
 * The answer for an app with no row (the official SDKs and anything else): the situation's own status
 * in the provider's envelope. openai and @anthropic-ai/sdk raise PermissionDeniedError (403) and
 * AuthenticationError (401) at once; their retry rule (shouldRetry) retries only 408, 409, 429, >= 500
 * or `x-should-retry: true`.
 */
export const DEFAULT_BLOCK_ANSWERS: Record<FinalSituation, BlockAnswer> = {
  blocked: { status: 403, body: 'provider-json', retryAfter: false, evidence: 'openai and @anthropic-ai/sdk shouldRetry (client core)' },
  not_signed_in: { status: 401, body: 'provider-json', retryAfter: false, evidence: 'openai and @anthropic-ai/sdk shouldRetry (client core)' },
};

/** The row for `app` on `transport` (and `path`), or the default for the situation. */
export function blockAnswerFor(app: string | undefined, transport: 'http' | 'websocket', situation: FinalSituation, path?: string): BlockAnswer {
  const row = BLOCK_ANSWER_ROWS.find((r) => r.app === app && (r.transport === 'any' || r.transport === transport) && (r.path === undefined || r.path === path));
  return row?.answer ?? DEFAULT_BLOCK_ANSWERS[situation];
}
