// DEMO upstream: what the stand-in "model" says. Deterministic, so tests can assert it: a greeting
// naming the model, then the first words of the user's last message.

export const DEMO_GREETING = 'Hello from the Heimdall demo upstream';

/** Text of the last user turn, whichever provider's message shape it arrived in. */
export function lastUserText(messages: unknown, roles: readonly string[] = ['user']): string {
  if (typeof messages === 'string') return messages;
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i];
    if (!isRecord(m)) continue;
    const role = typeof m['role'] === 'string' ? m['role'] : 'user';
    if (!roles.includes(role)) continue;
    // OpenAI chat and Anthropic put text in `content`; Google in `parts`.
    const text = lastText(m['content'] ?? m['parts']);
    if (text) return text;
  }
  return '';
}

/** The last text part of a content value: a string, or a list of typed parts. */
function lastText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  for (let i = content.length - 1; i >= 0; i--) {
    const part: unknown = content[i];
    if (typeof part === 'string') return part;
    if (isRecord(part) && typeof part['text'] === 'string' && part['text'].trim() !== '') return part['text'];
  }
  return '';
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The reply for `model` to `prompt`: greeting plus the prompt's first twelve words. */
export function demoReply(model: string, prompt: string): string {
  const words = prompt.replace(/\s+/g, ' ').trim().split(' ').filter(Boolean).slice(0, 12).join(' ').slice(0, 200);
  return `${DEMO_GREETING} (model ${model}): ${words || '(empty prompt)'}`;
}

/** The reply cut into word-sized pieces, the way a model streams tokens. */
export function replyChunks(text: string): string[] {
  return text.match(/\S+\s*/g) ?? [text];
}

/** A rough token count for usage fields (words, at least one). */
export function roughTokens(text: string): number {
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}
