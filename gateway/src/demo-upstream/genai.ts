// DEMO upstream: Google's Generative Language API wire format (generateContent, the streamed
// variant as SSE or as a JSON array, countTokens, models).
import { demoReply, isRecord, lastUserText, replyChunks, roughTokens } from './reply.ts';

function prompt(body: Record<string, unknown>): string {
  return lastUserText(body['contents'], ['user']);
}

function usage(body: Record<string, unknown>, text: string) {
  const p = roughTokens(JSON.stringify(body['contents'] ?? ''));
  return { promptTokenCount: p, candidatesTokenCount: roughTokens(text), totalTokenCount: p + roughTokens(text) };
}

function candidate(text: string, finished: boolean) {
  return { content: { role: 'model', parts: [{ text }] }, index: 0, ...(finished ? { finishReason: 'STOP' } : {}) };
}

/**
 * A value that fits a response schema (Google's OBJECT/STRING types or JSON Schema): apps that ask
 * for structured output, like Gemini CLI's model router, parse the reply and retry on prose.
 */
function sampleFor(schema: unknown, text: string, depth = 0): unknown {
  if (!isRecord(schema) || depth > 8) return text;
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) return schema['enum'][0];
  const declared = schema['type'];
  const type = (typeof declared === 'string' ? declared : isRecord(schema['properties']) ? 'object' : 'string').toLowerCase();
  switch (type) {
    case 'object': {
      const props = isRecord(schema['properties']) ? schema['properties'] : {};
      return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, sampleFor(v, text, depth + 1)]));
    }
    case 'array':
      return [sampleFor(schema['items'], text, depth + 1)];
    case 'integer':
    case 'number': {
      const min = Number(schema['minimum'] ?? 0);
      return Number.isFinite(min) ? min : 0;
    }
    case 'boolean':
      return false;
    default:
      return text;
  }
}

/** The reply text: prose, or JSON fitting the schema when the request asks for JSON. */
function replyText(model: string, body: Record<string, unknown>): string {
  const text = demoReply(model, prompt(body));
  const config = isRecord(body['generationConfig']) ? body['generationConfig'] : {};
  if (config['responseMimeType'] !== 'application/json') return text;
  return JSON.stringify(sampleFor(config['responseJsonSchema'] ?? config['responseSchema'], text));
}

export function generateContent(model: string, body: Record<string, unknown>): unknown {
  const text = replyText(model, body);
  return { candidates: [candidate(text, true)], usageMetadata: usage(body, text), modelVersion: model, responseId: 'demo-response' };
}

/** One GenerateContentResponse per piece; the last carries finishReason and usage. */
export function generateContentChunks(model: string, body: Record<string, unknown>): unknown[] {
  const text = replyText(model, body);
  const pieces = replyChunks(text);
  return pieces.map((piece, i) => {
    const last = i === pieces.length - 1;
    return { candidates: [candidate(piece, last)], ...(last ? { usageMetadata: usage(body, text) } : {}), modelVersion: model, responseId: 'demo-response' };
  });
}

export function countTokens(body: Record<string, unknown>): unknown {
  const contents = isRecord(body['generateContentRequest']) ? body['generateContentRequest']['contents'] : body['contents'];
  return { totalTokens: roughTokens(JSON.stringify(contents ?? '')) };
}

export const GENAI_DEMO_MODELS = ['demo-gemini', 'demo-gemini-flash'];

export function genaiModel(id: string): unknown {
  return {
    name: `models/${id}`,
    displayName: `Demo ${id}`,
    inputTokenLimit: 1_000_000,
    outputTokenLimit: 8192,
    supportedGenerationMethods: ['generateContent', 'streamGenerateContent', 'countTokens'],
  };
}

export function genaiModels(): unknown {
  return { models: GENAI_DEMO_MODELS.map(genaiModel) };
}
