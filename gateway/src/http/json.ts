// JSON over HTTP for the admin API and enrollment: bounded bodies that must arrive in time, one error shape
// `{ error: { code, message, field? } }`, and zod issues turned into the field that was wrong.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

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
  // The rest of a body that came too slowly or too large is not worth reading: close after answering.
  if (status === 408 || status === 413 || status === 429) res.shouldKeepAlive = false;
  sendJson(res, status, { error: { code, message, ...(field === undefined ? {} : { field }) } });
}

/** How long a JSON body may take to arrive, per listener (the gateway sets it from its limits). */
const bodyTimeouts = new WeakMap<object, number>();

/** Sets the body deadline for requests arriving on `server` (readJsonBody reads it from the request's socket's server). */
export function setBodyTimeout(server: object, ms: number): void {
  bodyTimeouts.set(server, ms);
}

/** Reads a body of at most `maxBytes` (413 past it) within the listener's body deadline (408 after it). */
export async function readBoundedBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const server = (req.socket as { server?: object }).server;
  const timeoutMs = (server && bodyTimeouts.get(server)) ?? 10_000;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HttpError(408, 'request_timeout', `the request body did not arrive within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  deadline.catch(() => {});
  const read = (async () => {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) throw new HttpError(413, 'too_large', `request body exceeds ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  })();
  read.catch(() => {});
  try {
    await Promise.race([read, deadline]);
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks);
}

/** Reads a JSON body of at most `maxBytes` within the listener's body deadline (408 after it); an empty body reads as `{}`. */
export async function readJsonBody(req: IncomingMessage, maxBytes = 1024 * 1024): Promise<unknown> {
  const type = req.headers['content-type'];
  const body = await readBoundedBody(req, maxBytes);
  if (body.length === 0) return {};
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'invalid', 'request body is not valid JSON');
  }
}

/** Reads an HTML form's body (`application/x-www-form-urlencoded`) of at most `maxBytes`, within the body deadline. */
export async function readFormBody(req: IncomingMessage, maxBytes = 256 * 1024): Promise<URLSearchParams> {
  const type = req.headers['content-type'];
  if (type === undefined || !/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new HttpError(415, 'unsupported_media_type', 'send the form as application/x-www-form-urlencoded');
  }
  return new URLSearchParams((await readBoundedBody(req, maxBytes)).toString('utf8'));
}

function issueField(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replaceAll('.[', '[');
  if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) return path === '' ? issue.keys[0]! : `${path}.${issue.keys[0]!}`;
  return path;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) value = value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  return value;
}

/** The field names an object schema at `path` accepts (through optional/nullable wrappers), if it is one. */
function acceptedKeys(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let current: unknown = schema;
  for (const key of [...path, undefined]) {
    while (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap();
    if (!(current instanceof z.ZodObject)) return undefined;
    if (key === undefined) return Object.keys(current.shape);
    current = (current.shape as Record<PropertyKey, unknown>)[key];
  }
  return undefined;
}

/** What would have been accepted: a schema's own `accepted: ...` message, an enum's values, or zod's words. */
function expectation(issue: z.core.$ZodIssue, schema: z.ZodType): string {
  if (issue.message.startsWith('accepted: ')) return issue.message;
  if (issue.code === 'invalid_value') return `accepted: ${issue.values.map((v) => String(v)).join(', ')}`;
  if (issue.code === 'unrecognized_keys') {
    const keys = acceptedKeys(schema, issue.path);
    return keys ? `accepted: ${keys.join(', ')}` : 'remove it';
  }
  return issue.message.charAt(0).toLowerCase() + issue.message.slice(1);
}

/** The value sent, quoted for a message: short scalars only (a long string is not worth repeating). */
function quoted(sent: unknown): string | undefined {
  if (typeof sent === 'boolean' || typeof sent === 'number' || sent === null) return JSON.stringify(sent);
  if (typeof sent === 'string' && sent.length <= 100) return JSON.stringify(sent);
  return undefined;
}

export interface ParseOptions {
  /** Prefix of the field names (`id` for a path parameter). */
  prefix?: string;
  /** Repeat the value sent in the message; never for input that may hold a secret. */
  echo?: boolean;
}

/**
 * Parses `value` with `schema` or throws a 400 naming the first field at fault, what is accepted and,
 * with `echo`, the value sent (`fail_mode: "sideways" is not accepted; accepted: open, closed`).
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, options: ParseOptions = {}): z.infer<S> {
  const prefix = options.prefix ?? '';
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const local = issueField(issue);
  const field = [prefix, local].filter((p) => p !== '').join('.') || '(body)';
  const expected = expectation(issue, schema);
  const sent = valueAt(value, issue.path);
  const shown = options.echo ? quoted(sent) : undefined;
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown field ${field}; ${expected}`
      : issue.code === 'invalid_key'
        ? `${field}: the name ${JSON.stringify(String(issue.path[issue.path.length - 1]))} is not accepted; ${expectation(issue.issues[0] ?? issue, schema)}`
      : sent === undefined
        ? `${field} is missing; ${expected}`
        : `${field}: ${shown === undefined ? 'not accepted' : `${shown} is not accepted`}; ${expected}`;
  throw new HttpError(400, 'invalid', message, field);
}
