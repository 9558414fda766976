// DEMO upstream: OpenAI's wire formats (chat completions, the Responses API, embeddings, models),
// built as plain objects; the server decides whether they go out as JSON, SSE or websocket frames.
import { createHash } from 'node:crypto';
import { demoReply, isRecord, lastUserText, replyChunks, roughTokens } from './reply.ts';

let counter = 0;
const nextId = (prefix: string) => `${prefix}${(++counter).toString(36).padStart(6, '0')}`;
const now = () => Math.floor(Date.now() / 1000);

export function modelOf(body: Record<string, unknown>, fallback = 'demo-model'): string {
  return typeof body['model'] === 'string' && body['model'] ? body['model'] : fallback;
}

// ---- chat completions ----

export function chatCompletion(body: Record<string, unknown>): unknown {
  const model = modelOf(body);
  const prompt = lastUserText(body['messages']);
  const text = demoReply(model, prompt);
  return {
    id: nextId('chatcmpl-demo'),
    object: 'chat.completion',
    created: now(),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: roughTokens(prompt), completion_tokens: roughTokens(text), total_tokens: roughTokens(prompt) + roughTokens(text) },
    system_fingerprint: null,
  };
}

/** `data:` payloads of a streamed chat completion; the caller adds `data: [DONE]`. */
export function chatCompletionChunks(body: Record<string, unknown>): unknown[] {
  const model = modelOf(body);
  const prompt = lastUserText(body['messages']);
  const text = demoReply(model, prompt);
  const id = nextId('chatcmpl-demo');
  const created = now();
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    id,
    object: 'chat.completion.chunk',
    created,
    model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  const out: unknown[] = [chunk({ role: 'assistant', content: '', refusal: null }, null)];
  for (const piece of replyChunks(text)) out.push(chunk({ content: piece }, null));
  out.push(chunk({}, 'stop'));
  const options = body['stream_options'];
  if (isRecord(options) && options['include_usage'] === true) {
    out.push({
      id, object: 'chat.completion.chunk', created, model, choices: [],
      usage: { prompt_tokens: roughTokens(prompt), completion_tokens: roughTokens(text), total_tokens: roughTokens(prompt) + roughTokens(text) },
    });
  }
  return out;
}

// ---- Responses API ----

function responsesPrompt(body: Record<string, unknown>): string {
  return lastUserText(body['input']);
}

function responseObject(model: string, id: string, status: 'in_progress' | 'completed', output: unknown[], usage: unknown): Record<string, unknown> {
  return {
    id,
    object: 'response',
    created_at: now(),
    status,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage,
    metadata: {},
  };
}

export function responsesResponse(body: Record<string, unknown>): unknown {
  const model = modelOf(body);
  const prompt = responsesPrompt(body);
  const text = demoReply(model, prompt);
  const item = { id: nextId('msg_demo'), type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text, annotations: [] }] };
  return responseObject(model, nextId('resp_demo'), 'completed', [item], responsesUsage(prompt, text));
}

function responsesUsage(prompt: string, text: string) {
  return {
    input_tokens: roughTokens(prompt),
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: roughTokens(text),
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: roughTokens(prompt) + roughTokens(text),
  };
}

/**
 * The event sequence of a streamed response, as the API sends it over SSE and over the websocket
 * transport: created, in_progress, output item and content part opened, text deltas, everything
 * closed, completed. `generate: false` (Codex's connection warm-up) completes with no output.
 */
export function responsesEvents(body: Record<string, unknown>): Record<string, unknown>[] {
  const model = modelOf(body);
  const prompt = responsesPrompt(body);
  const id = nextId('resp_demo');
  let seq = 0;
  const ev = (type: string, fields: Record<string, unknown>) => ({ type, sequence_number: seq++, ...fields });
  const events = [ev('response.created', { response: responseObject(model, id, 'in_progress', [], null) })];
  events.push(ev('response.in_progress', { response: responseObject(model, id, 'in_progress', [], null) }));
  if (body['generate'] === false) {
    events.push(ev('response.completed', { response: responseObject(model, id, 'completed', [], responsesUsage(prompt, '')) }));
    return events;
  }
  const text = demoReply(model, prompt);
  const itemId = nextId('msg_demo');
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  events.push(ev('response.output_item.added', { output_index: 0, item: { id: itemId, type: 'message', status: 'in_progress', role: 'assistant', content: [] } }));
  events.push(ev('response.content_part.added', { ...at, part: { type: 'output_text', text: '', annotations: [] } }));
  for (const piece of replyChunks(text)) events.push(ev('response.output_text.delta', { ...at, delta: piece, logprobs: [] }));
  events.push(ev('response.output_text.done', { ...at, text, logprobs: [] }));
  const part = { type: 'output_text', text, annotations: [] };
  events.push(ev('response.content_part.done', { ...at, part }));
  const item = { id: itemId, type: 'message', status: 'completed', role: 'assistant', content: [part] };
  events.push(ev('response.output_item.done', { output_index: 0, item }));
  events.push(ev('response.completed', { response: responseObject(model, id, 'completed', [item], responsesUsage(prompt, text)) }));
  return events;
}

// ---- embeddings and models ----

function embeddingOf(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  return Array.from(digest.subarray(0, 8), (b) => Math.round((b / 127.5 - 1) * 1e4) / 1e4);
}

export function embeddings(body: Record<string, unknown>): unknown {
  const model = modelOf(body, 'demo-embedding');
  const raw = body['input'];
  const inputs = Array.isArray(raw) ? raw.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) : [typeof raw === 'string' ? raw : JSON.stringify(raw)];
  // The OpenAI SDK asks for base64 by default and decodes it to floats itself.
  const base64 = body['encoding_format'] === 'base64';
  return {
    object: 'list',
    model,
    data: inputs.map((text, index) => {
      const vector = embeddingOf(text);
      return { object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector };
    }),
    usage: { prompt_tokens: inputs.reduce((n, t) => n + roughTokens(t), 0), total_tokens: inputs.reduce((n, t) => n + roughTokens(t), 0) },
  };
}

export const OPENAI_DEMO_MODELS = ['demo-gpt', 'demo-gpt-mini', 'demo-embedding'];

export function openaiModels(): unknown {
  return { object: 'list', data: OPENAI_DEMO_MODELS.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'heimdall-demo' })) };
}

export function openaiModel(id: string): unknown {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'heimdall-demo' };
}
