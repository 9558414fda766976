// Forwards one websocket upgrade (Codex opens `GET /v1/responses` as a websocket) with Node's own
// HTTP client: on `101` the two sockets are joined; any other answer (the gateway refusing a key,
// a budget exhausted) reaches the app as the gateway wrote it. Upgrades are one per session, so
// nothing here is pooled.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

export type UpgradeFailure =
  | { phase: 'connect' | 'response-headers'; timeoutMs: number }
  | { phase: 'network'; error: NodeJS.ErrnoException };

export interface UpgradeOutcome {
  /** The next hop answered (101, or a refusal relayed to the app). */
  onAnswer(status: number): void;
  /** No answer came: the caller writes its own error on the client socket. Runs at most once. */
  onFailure(failure: UpgradeFailure): void;
}

/** Sends the (not yet ended) upgrade request to the next hop and relays the answer to `client`. */
export function forwardUpgrade(
  upstream: http.ClientRequest, client: Duplex, head: Buffer,
  timeouts: { connectMs: number; responseHeadersMs: number }, outcome: UpgradeOutcome,
): void {
  let failed = false;
  const fail = (failure: UpgradeFailure): void => {
    clearTimeout(headersTimer);
    clearTimeout(connectTimer);
    if (failed) return;
    failed = true;
    upstream.destroy();
    outcome.onFailure(failure);
  };
  const headersTimer = setTimeout(() => fail({ phase: 'response-headers', timeoutMs: timeouts.responseHeadersMs }), timeouts.responseHeadersMs);
  const connectTimer = setTimeout(() => fail({ phase: 'connect', timeoutMs: timeouts.connectMs }), timeouts.connectMs);
  upstream.once('socket', (socket: net.Socket) => {
    if (!socket.connecting) clearTimeout(connectTimer);
    else socket.once('connect', () => clearTimeout(connectTimer));
  });
  upstream.on('error', (error: NodeJS.ErrnoException) => fail({ phase: 'network', error }));
  // The app gave up before an answer: nothing to relay.
  client.once('close', () => {
    if (!failed) {
      failed = true;
      clearTimeout(headersTimer);
      clearTimeout(connectTimer);
      upstream.destroy();
    }
  });

  upstream.once('upgrade', (res, socket, upstreamHead) => {
    clearTimeout(headersTimer);
    clearTimeout(connectTimer);
    socket.on('error', () => socket.destroy());
    outcome.onAnswer(101);
    client.write(statusAndHeaders(res, 101, false));
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) socket.write(head);
    socket.pipe(client).pipe(socket);
    socket.once('close', () => client.destroy());
    client.once('close', () => socket.destroy());
  });

  upstream.once('response', (res) => {
    clearTimeout(headersTimer);
    clearTimeout(connectTimer);
    // The body arrives decoded and ends with the connection: the framing headers go, and the
    // connection closes after it (the app's HTTP parser was handed over for the upgrade).
    const status = res.statusCode ?? 502;
    outcome.onAnswer(status);
    client.write(statusAndHeaders(res, status, true));
    res.pipe(client);
    res.once('error', () => client.destroy());
  });

  upstream.end();
}

const FRAMING = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

/** The status line and headers of an answer, as the app must see them. */
function statusAndHeaders(res: http.IncomingMessage, status: number, closeAfter: boolean): string {
  let out = `HTTP/1.1 ${status} ${res.statusMessage || http.STATUS_CODES[status] || ''}\r\n`;
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (closeAfter && FRAMING.has(raw[i]!.toLowerCase())) continue;
    out += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return `${out}${closeAfter ? 'connection: close\r\n' : ''}\r\n`;
}
