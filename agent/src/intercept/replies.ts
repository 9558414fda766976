// The one way the proxy answers on its own (refusals, blocks, malformed requests, its own failures):
// a Reply built in the shape the client reads (plain text for proxy-level errors, the provider's
// error shape inside an AI exchange, a page for a person's browser), written by `answer` to either an
// HTTP response or a raw socket (CONNECT, websocket upgrades).
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { finalAnswer, providerError, type ErrorKind, type ErrorShapeId } from '../forward/index.ts';
import { renderBlockPage } from './block-page.ts';

export interface Reply {
  status: number;
  contentType: string;
  body: string;
  /** Set on provider-shaped errors so a person reading a trace can tell Heimdall answered. */
  errorKind?: ErrorKind;
  /** Further response fields (a final answer's `x-should-retry: false`, the block page's CSP). */
  headers?: Record<string, string>;
  /** A refusal given inside an accepted websocket (./responses-ws-refusal.ts); `body` is the sentence. */
  inBand?: 'responses-websocket';
}

/** A proxy-level error a person reads in a terminal (`curl -v`), one line. */
export function textReply(status: number, message: string): Reply {
  return { status, contentType: 'text/plain; charset=utf-8', body: `${oneLine(message)}\n` };
}

/** An error inside an AI exchange, in the provider's own error shape, so the app shows its sentence. */
export function providerReply(shape: ErrorShapeId, kind: ErrorKind, detail: string, supportUrl: string | undefined): Reply {
  const e = providerError(shape, kind, detail, supportUrl);
  return { status: e.status, contentType: 'application/json', body: e.body, errorKind: kind };
}

/**
 * A final refusal (blocked, not signed in) in the form the app on the other end stops at and shows:
 * status, body and headers from the block table (protocol/block-answers.ts), per app and transport.
 */
export function finalReply(
  shape: ErrorShapeId, situation: 'blocked' | 'not_signed_in', detail: string, supportUrl: string | undefined,
  app: { appId: string | undefined; transport: 'http' | 'websocket'; path?: string },
): Reply {
  const e = finalAnswer(shape, situation, detail, supportUrl, app);
  return { status: e.status, contentType: e.contentType, body: e.body, errorKind: situation, headers: e.headers, ...(e.inBand ? { inBand: e.inBand } : {}) };
}

// The block page loads nothing: no script, no image, no font, nothing from another site.
const BLOCK_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The page a browser navigation to a blocked consumer AI surface gets. */
export function blockPageReply(input: { host: string; message: string; supportUrl?: string | undefined; organization?: string | undefined}): Reply {
  const body = renderBlockPage({
    host: input.host,
    message: input.message,
    ...(input.supportUrl ? { supportUrl: input.supportUrl } : {}),
    ...(input.organization ? { organization: input.organization } : {}),
  });
  return { status: 403, contentType: 'text/html; charset=utf-8', body, headers: { 'content-security-policy': BLOCK_PAGE_CSP, 'referrer-policy': 'no-referrer' } };
}

// A client that never reads its error must not keep the socket.
const RAW_LINGER_MS = 2000;

/** Writes a reply and ends the exchange; a response already under way is cut instead. */
export function answer(to: http.ServerResponse | Duplex, reply: Reply): void {
  if (to instanceof http.ServerResponse) {
    if (to.headersSent) {
      to.destroy();
      return;
    }
    to.writeHead(reply.status, fieldsOf(reply));
    to.end(reply.body);
    return;
  }
  if (!to.writable) {
    to.destroy();
    return;
  }
  // A raw socket (CONNECT, a websocket upgrade refused before 101): the whole answer, then close.
  const fields = Object.entries(fieldsOf(reply)).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  to.end(`HTTP/1.1 ${reply.status} ${http.STATUS_CODES[reply.status] ?? 'Error'}\r\n${fields}connection: close\r\n\r\n${reply.body}`);
  setTimeout(() => to.destroy(), RAW_LINGER_MS).unref();
}

function fieldsOf(reply: Reply): Record<string, string | number> {
  return {
    'content-type': reply.contentType,
    'content-length': Buffer.byteLength(reply.body),
    ...(reply.errorKind ? { 'x-heimdall-error': reply.errorKind } : {}),
    ...(reply.contentType.startsWith('text/html') ? { 'cache-control': 'no-store' } : {}),
    ...reply.headers,
  };
}

/** A reason that came from outside (policy text) on one bounded line. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 300);
}
