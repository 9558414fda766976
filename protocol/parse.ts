// Parsing one websocket text message into a typed protocol message, or a typed error that names what
// was wrong (the receiver closes the connection with `closeCode` and `message` as the reason).
import type { z } from 'zod';
import { CLOSE_CODES, LIMITS } from './limits.ts';
import { AGENT_MESSAGE_SCHEMAS, GATEWAY_MESSAGE_SCHEMAS, type AgentMessage, type GatewayMessage } from './messages.ts';

/** Who sent the message: `agent` for agent -> gateway, `gateway` for gateway -> agent. */
export type Direction = 'agent' | 'gateway';

export type ProtocolErrorKind = 'too_large' | 'not_json' | 'not_object' | 'unknown_type' | 'invalid';

export interface ProtocolError {
  kind: ProtocolErrorKind;
  /** The websocket close code the receiver uses. */
  closeCode: number;
  /** One line naming the problem and where (`events.events[3].seq: ...`); fits a close reason. */
  message: string;
  /** The message type, when it could be read. */
  type?: string;
  /** Dotted path of the first offending field, when there is one. */
  path?: string;
}

export type ParseResult<M> = { ok: true; message: M } | { ok: false; error: ProtocolError };

// A websocket close reason is at most 123 bytes of UTF-8; longer reasons make ws throw.
const MAX_REASON_BYTES = 123;

/** Shortens a reason to what a websocket close frame can carry. */
export function closeReason(message: string): string {
  if (Buffer.byteLength(message) <= MAX_REASON_BYTES) return message;
  let out = message.slice(0, MAX_REASON_BYTES);
  while (Buffer.byteLength(out + '...') > MAX_REASON_BYTES) out = out.slice(0, -1);
  return out + '...';
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

function fail(kind: ProtocolErrorKind, message: string, extra: { type?: string; path?: string } = {}): { ok: false; error: ProtocolError } {
  const closeCode = kind === 'too_large' ? CLOSE_CODES.tooLarge.code : CLOSE_CODES.badMessage.code;
  return { ok: false, error: { kind, closeCode, message, ...extra } };
}

function maxBytes(direction: Direction): number {
  return direction === 'agent' ? LIMITS.maxAgentMessageBytes : LIMITS.maxGatewayMessageBytes;
}

export function parseMessage(data: string | Buffer, direction: 'agent'): ParseResult<AgentMessage>;
export function parseMessage(data: string | Buffer, direction: 'gateway'): ParseResult<GatewayMessage>;
export function parseMessage(data: string | Buffer, direction: Direction): ParseResult<AgentMessage | GatewayMessage> {
  const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
  const limit = maxBytes(direction);
  if (bytes > limit) return fail('too_large', `message of ${bytes} bytes exceeds the limit of ${limit}`);
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return fail('not_json', 'message is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('not_object', 'message is not a JSON object');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return fail('invalid', 'message has no string `type`', { path: 'type' });
  const table: Record<string, z.ZodType> = direction === 'agent' ? AGENT_MESSAGE_SCHEMAS : GATEWAY_MESSAGE_SCHEMAS;
  const schema = Object.hasOwn(table, type) ? table[type] : undefined;
  const shownType = type.length > 40 ? `${type.slice(0, 40)}...` : type;
  if (!schema) return fail('unknown_type', `unknown message type "${shownType}" from the ${direction}`, { type: shownType });
  // Counting limits are checked before the schema walks a huge array (the schema checks them too).
  if (type === 'events') {
    const events = (value as { events?: unknown }).events;
    if (Array.isArray(events) && events.length > LIMITS.maxEventsPerBatch) {
      return fail('too_large', `events batch of ${events.length} exceeds the limit of ${LIMITS.maxEventsPerBatch}`, { type, path: 'events' });
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue ? formatPath(issue.path) : '';
    const where = path === '' ? type : `${type}.${path}`;
    return fail('invalid', `${where}: ${issue?.message ?? 'invalid'}`, { type, ...(path === '' ? {} : { path }) });
  }
  return { ok: true, message: parsed.data as AgentMessage | GatewayMessage };
}

/** Serialises a message for sending. */
export function encodeMessage(message: AgentMessage | GatewayMessage): string {
  return JSON.stringify(message);
}
