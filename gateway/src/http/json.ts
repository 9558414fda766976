// JSON over HTTP for the admin API and enrollment: bounded bodies, one error shape
// `{ error: { code, message, field? } }`, and zod issues turned into the field that was wrong.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, code: string, message: string, field?: string): void {
  sendJson(res, status, { error: { code, message, ...(field === undefined ? {} : { field }) } });
}

/** Reads a JSON body of at most `maxBytes`; an empty body reads as `{}`. */
export async function readJsonBody(req: IncomingMessage, maxBytes = 1024 * 1024): Promise<unknown> {
  const type = req.headers['content-type'];
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new HttpError(413, 'too_large', `request body exceeds ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid', 'request body is not valid JSON');
  }
}

function issueField(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replaceAll('.[', '[');
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) return path === '' ? issue.keys[0]! : `${path}.${issue.keys[0]!}`;
  return path;
}

/** Parses `value` with `schema` or throws a 400 naming the first field at fault. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix = ''): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const local = issueField(issue);
  const field = [prefix, local].filter((p) => p !== '').join('.') || '(body)';
  const message = issue.code === 'unrecognized_keys' ? `unknown field ${field}` : `${field}: ${issue.message}`;
  throw new HttpError(400, 'invalid', message, field);
}
