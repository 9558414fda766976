// DEMO upstream: a stand-in for the real model providers (OpenAI, Anthropic, Google, ChatGPT's
// Codex backend) so the demo and the tests run with no internet. It answers each provider's wire
// format, plain and streaming (SSE, and the Responses API websocket Codex uses), with a fixed
// reply, and only with the provider key it was told the gateway holds. It is not a model.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { type ErrorFormat, type ErrorKind, providerError } from '../inference/index.ts';
import * as anthropic from './anthropic.ts';
import * as genai from './genai.ts';
import * as openai from './openai.ts';
import { isRecord } from './reply.ts';

export { DEMO_GREETING, demoReply } from './reply.ts';

export type DemoProvider = 'openai' | 'anthropic' | 'genai' | 'chatgpt';

export interface DemoUpstreamOptions {
  host?: string;
  port?: number;
  /**
   * The credentials each provider accepts (the keys the gateway was configured with, plus any
   * native key a test forwards with x-bf-direct-key). Anything else gets the provider's 401.
   * A provider left out accepts any non-empty credential.
   */
  keys?: Partial<Record<DemoProvider, string | readonly string[]>>;
  /** Pause between streamed pieces; default 20 ms. */
  chunkDelayMs?: number;
  logger?: Logger;
}

/** What reached the demo upstream, so tests can prove which credentials crossed the gateway. */
export interface DemoRequestRecord {
  provider: DemoProvider | 'unknown';
  transport: 'http' | 'websocket';
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
}

export interface DemoUpstream {
  /** Base URL, e.g. http://127.0.0.1:41234 — the same root serves every provider. */
  url: string;
  /** Requests seen, oldest first (the last 1,000). */
  received: DemoRequestRecord[];
  close(): Promise<void>;
}

const MAX_BODY = 10 * 1024 * 1024;
const RECORD_LIMIT = 1000;

const FORMAT: Record<DemoProvider, ErrorFormat> = { openai: 'openai', chatgpt: 'openai', anthropic: 'anthropic', genai: 'google' };

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  body: Record<string, unknown>;
  query: URLSearchParams;
  match: RegExpExecArray;
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** The credential a provider's client presents, in that provider's own header. */
function presentedKey(provider: DemoProvider, req: IncomingMessage, query: URLSearchParams): string | undefined {
  const bearer = /^Bearer\s+(.+)$/i.exec(req.headers['authorization'] ?? '')?.[1]?.trim();
  const header = (name: string) => {
    const v = req.headers[name];
    return (Array.isArray(v) ? v[0] : v)?.trim() || undefined;
  };
  switch (provider) {
    case 'openai':
    case 'chatgpt':
      return bearer;
    case 'anthropic':
      return header('x-api-key') ?? bearer;
    case 'genai':
      return header('x-goog-api-key') ?? (query.get('key') || undefined);
  }
}

export async function startDemoUpstream(options: DemoUpstreamOptions = {}): Promise<DemoUpstream> {
  const delay = options.chunkDelayMs ?? 20;
  const received: DemoRequestRecord[] = [];
  const sockets = new Set<Duplex>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY });

  const remember = (r: DemoRequestRecord) => {
    received.push(r);
    if (received.length > RECORD_LIMIT) received.shift();
  };

  const accepts = (provider: DemoProvider, key: string | undefined): boolean => {
    if (!key) return false;
    const allowed = options.keys?.[provider];
    if (allowed === undefined) return true;
    return (typeof allowed === 'string' ? [allowed] : allowed).includes(key);
  };

  const unauthorized = (provider: DemoProvider) =>
    providerError(FORMAT[provider], 'authentication', `DEMO upstream: the ${provider} API key is missing or not the one this demo upstream was given.`);

  const sendJson = (res: ServerResponse, status: number, value: unknown) => {
    const body = typeof value === 'string' ? value : JSON.stringify(value);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const sendError = (res: ServerResponse, format: ErrorFormat, kind: ErrorKind, message: string) => {
    const e = providerError(format, kind, `DEMO upstream: ${message}`);
    sendJson(res, e.status, e.body);
  };

  /** Writes `pieces` one at a time with the configured pause; stops if the client left. */
  const stream = async (res: ServerResponse, contentType: string, pieces: string[]) => {
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-cache' });
    res.flushHeaders();
    for (let i = 0; i < pieces.length; i++) {
      if (res.destroyed) return;
      if (i > 0 && delay > 0) await sleep(delay);
      res.write(pieces[i]);
    }
    res.end();
  };

  const sse = (data: unknown, event?: string) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

  const responsesHttp = async ({ res, body }: Exchange) => {
    if (body['stream'] === true) {
      await stream(res, 'text/event-stream', openai.responsesEvents(body).map((e) => sse(e, String(e['type']))));
    } else {
      sendJson(res, 200, openai.responsesResponse(body));
    }
  };

  // Route table of the demo: method, path, provider, answer. `/v1/models` is shared by OpenAI and
  // Anthropic; Anthropic clients are told apart by their `anthropic-version` or `x-api-key` header.
  const routes: { method: string; path: RegExp; provider: DemoProvider | ((req: IncomingMessage) => DemoProvider); handle(x: Exchange): Promise<void> | void }[] = [
    {
      method: 'POST', path: /^\/v1\/chat\/completions$/, provider: 'openai',
      handle: async ({ res, body }) => {
        if (body['stream'] === true) {
          await stream(res, 'text/event-stream', [...openai.chatCompletionChunks(body).map((c) => sse(c)), 'data: [DONE]\n\n']);
        } else {
          sendJson(res, 200, openai.chatCompletion(body));
        }
      },
    },
    { method: 'POST', path: /^\/v1\/responses$/, provider: 'openai', handle: responsesHttp },
    { method: 'POST', path: /^\/backend-api\/codex\/responses$/, provider: 'chatgpt', handle: responsesHttp },
    { method: 'POST', path: /^\/v1\/embeddings$/, provider: 'openai', handle: ({ res, body }) => sendJson(res, 200, openai.embeddings(body)) },
    {
      method: 'GET', path: /^\/v1\/models(?:\/([^/]+))?$/,
      provider: (req) => (req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined ? 'anthropic' : 'openai'),
      handle: ({ req, res, match }) => {
        const isAnthropic = req.headers['anthropic-version'] !== undefined || req.headers['x-api-key'] !== undefined;
        const id = match[1] ? decodeURIComponent(match[1]) : undefined;
        if (isAnthropic) sendJson(res, 200, id ? anthropic.anthropicModel(id) : anthropic.anthropicModels());
        else sendJson(res, 200, id ? openai.openaiModel(id) : openai.openaiModels());
      },
    },
    {
      method: 'POST', path: /^\/v1\/messages$/, provider: 'anthropic',
      handle: async ({ res, body }) => {
        if (body['stream'] === true) {
          await stream(res, 'text/event-stream', anthropic.messageEvents(body).map(([event, data]) => sse(data, event)));
        } else {
          sendJson(res, 200, anthropic.message(body));
        }
      },
    },
    { method: 'POST', path: /^\/v1\/messages\/count_tokens$/, provider: 'anthropic', handle: ({ res, body }) => sendJson(res, 200, anthropic.countTokens(body)) },
    {
      method: 'POST', path: /^\/v1(?:beta|alpha)?\/models\/([^/:]+):(generateContent|streamGenerateContent|countTokens)$/, provider: 'genai',
      handle: async ({ res, body, query, match }) => {
        const model = decodeURIComponent(match[1]!);
        if (match[2] === 'generateContent') return sendJson(res, 200, genai.generateContent(model, body));
        if (match[2] === 'countTokens') return sendJson(res, 200, genai.countTokens(body));
        const chunks = genai.generateContentChunks(model, body);
        if (query.get('alt') === 'sse') {
          await stream(res, 'text/event-stream', chunks.map((c) => sse(c)));
        } else {
          // Without alt=sse Google streams one JSON array, element by element.
          await stream(res, 'application/json', chunks.map((c, i) => `${i === 0 ? '[' : ',\r\n'}${JSON.stringify(c)}${i === chunks.length - 1 ? ']' : ''}`));
        }
      },
    },
    {
      method: 'GET', path: /^\/v1(?:beta|alpha)?\/models(?:\/([^/:]+))?$/, provider: 'genai',
      handle: ({ res, match }) => sendJson(res, 200, match[1] ? genai.genaiModel(decodeURIComponent(match[1])) : genai.genaiModels()),
    },
  ];

  const guessFormat = (path: string): ErrorFormat => (path.startsWith('/v1beta') ? 'google' : path.startsWith('/v1/messages') ? 'anthropic' : 'openai');

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const path = url.pathname;
    const route = routes.find((r) => r.method === req.method && r.path.test(path));
    const provider = route ? (typeof route.provider === 'function' ? route.provider(req) : route.provider) : undefined;
    remember({ provider: provider ?? 'unknown', transport: 'http', method: req.method ?? '', path, query: url.search.slice(1), headers: flatHeaders(req) });
    if (!route || !provider) {
      req.resume();
      return sendError(res, guessFormat(path), 'not_found', `no ${req.method} ${path} here.`);
    }
    if (!accepts(provider, presentedKey(provider, req, url.searchParams))) {
      req.resume();
      const e = unauthorized(provider);
      return sendJson(res, e.status, e.body);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY) return sendError(res, FORMAT[provider], 'invalid_request', 'request body too large.');
      chunks.push(chunk);
    }
    let body: Record<string, unknown> = {};
    if (size > 0) {
      try {
        const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!isRecord(parsed)) throw new Error('not an object');
        body = parsed;
      } catch {
        return sendError(res, FORMAT[provider], 'invalid_request', 'the request body is not a JSON object.');
      }
    }
    await route.handle({ req, res, body, query: url.searchParams, match: route.path.exec(path)! });
  };

  // The Responses API over a websocket: each `response.create` frame is answered with the same
  // events the SSE transport sends, one JSON text frame each; `response.processed` acknowledgements
  // are accepted and ignored. Requests on one socket are answered in order.
  const serveResponsesSocket = (ws: WebSocket) => {
    let queue = Promise.resolve();
    ws.on('message', (data, isBinary) => {
      queue = queue.then(async () => {
        let frame: unknown;
        try {
          const bytes = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
          frame = isBinary ? undefined : JSON.parse(bytes.toString('utf8'));
        } catch {
          frame = undefined;
        }
        if (!isRecord(frame)) {
          ws.send(JSON.stringify({ type: 'error', status: 400, error: { type: 'invalid_request_error', message: 'DEMO upstream: expected a JSON text frame.' } }));
          return;
        }
        if (frame['type'] === 'response.processed') return;
        if (frame['type'] !== 'response.create') {
          ws.send(JSON.stringify({ type: 'error', status: 400, error: { type: 'invalid_request_error', message: `DEMO upstream: unsupported frame type ${JSON.stringify(frame['type'])}.` } }));
          return;
        }
        const events = openai.responsesEvents(frame);
        for (let i = 0; i < events.length; i++) {
          if (ws.readyState !== ws.OPEN) return;
          if (i > 0 && delay > 0) await sleep(delay);
          ws.send(JSON.stringify(events[i]));
        }
      });
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const provider: DemoProvider | undefined = url.pathname === '/v1/responses' ? 'openai' : url.pathname === '/backend-api/codex/responses' ? 'chatgpt' : undefined;
    remember({ provider: provider ?? 'unknown', transport: 'websocket', method: req.method ?? '', path: url.pathname, query: url.search.slice(1), headers: flatHeaders(req) });
    socket.on('error', () => socket.destroy());
    const refuse = (status: number, body: string) => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
    };
    if (!provider) {
      const e = providerError('openai', 'not_found', `DEMO upstream: no websocket at ${url.pathname}.`);
      return refuse(e.status, e.body);
    }
    if (!accepts(provider, presentedKey(provider, req, url.searchParams))) {
      const e = unauthorized(provider);
      return refuse(e.status, e.body);
    }
    wss.handleUpgrade(req, socket, head, serveResponsesSocket);
  };

  const server = http.createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      options.logger?.error({ err }, 'DEMO upstream failed to answer');
      if (!res.headersSent) sendError(res, 'openai', 'internal', 'the demo upstream failed.');
      else res.destroy();
    });
  });
  server.on('upgrade', onUpgrade);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  options.logger?.info({ url: `http://${host}:${addr.port}` }, 'DEMO upstream listening (a stand-in for model providers, not a model)');

  return {
    url: `http://${host}:${addr.port}`,
    received,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
