// DEMO upstream: Anthropic's Messages API wire format (message, SSE events, count_tokens, models).
import { demoReply, lastUserText, replyChunks, roughTokens } from './reply.ts';
import { modelOf } from './openai.ts';

let counter = 0;
const nextId = () => `msg_demo${(++counter).toString(36).padStart(6, '0')}`;

function allText(body: Record<string, unknown>): string {
  return JSON.stringify(body['messages'] ?? '') + JSON.stringify(body['system'] ?? '');
}

export function message(body: Record<string, unknown>): unknown {
  const model = modelOf(body, 'demo-claude');
  const text = demoReply(model, lastUserText(body['messages']));
  return {
    id: nextId(),
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: roughTokens(allText(body)), output_tokens: roughTokens(text) },
  };
}

/** `[event, data]` pairs of a streamed message, in the order the API sends them. */
export function messageEvents(body: Record<string, unknown>): [string, unknown][] {
  const model = modelOf(body, 'demo-claude');
  const text = demoReply(model, lastUserText(body['messages']));
  const events: [string, unknown][] = [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: nextId(), type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null,
          usage: { input_tokens: roughTokens(allText(body)), output_tokens: 1 },
        },
      },
    ],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
  ];
  for (const piece of replyChunks(text)) {
    events.push(['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } }]);
  }
  events.push(['content_block_stop', { type: 'content_block_stop', index: 0 }]);
  events.push(['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: roughTokens(text) } }]);
  events.push(['message_stop', { type: 'message_stop' }]);
  return events;
}

export function countTokens(body: Record<string, unknown>): unknown {
  return { input_tokens: roughTokens(allText(body)) };
}

export const ANTHROPIC_DEMO_MODELS = ['demo-claude', 'demo-claude-haiku'];

export function anthropicModels(): unknown {
  const data = ANTHROPIC_DEMO_MODELS.map((id) => ({ type: 'model', id, display_name: `Demo ${id}`, created_at: '2025-01-01T00:00:00Z' }));
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}

export function anthropicModel(id: string): unknown {
  return { type: 'model', id, display_name: `Demo ${id}`, created_at: '2025-01-01T00:00:00Z' };
}
