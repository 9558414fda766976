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

export function generateContent(model: string, body: Record<string, unknown>): unknown {
  const text = demoReply(model, prompt(body));
  return { candidates: [candidate(text, true)], usageMetadata: usage(body, text), modelVersion: model, responseId: 'demo-response' };
}

/** One GenerateContentResponse per piece; the last carries finishReason and usage. */
export function generateContentChunks(model: string, body: Record<string, unknown>): unknown[] {
  const text = demoReply(model, prompt(body));
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
