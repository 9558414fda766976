// Forwards a websocket upgrade (Codex's Responses API transport) to the upstream and then joins
// the two sockets byte for byte; frames, compression and pings stay end to end.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { InferenceTimeouts } from './config.ts';
import type { Clock } from '../../../lib/index.ts';
import { Deadline } from './deadline.ts';
import { openUpstreamRequest, type UpstreamTarget } from './upstream-request.ts';
import type { OutgoingHeaders } from './providers.ts';

export interface WebsocketForwardResult {
  /** 101 when the tunnel opened; otherwise the status the client got. */
  status: number;
  outcome: 'ok' | 'upstream_unreachable' | 'upstream_timeout' | 'stream_interrupted' | 'client_aborted';
  error: string | undefined;
  upstreamHeadersAt: number | undefined;
  /** Bytes from client to upstream after the upgrade. */
  bytesIn: number;
  /** Bytes to the client: upgraded stream, or the body of a refusal. */
  bytesOut: number;
}

export interface WebsocketForwardOptions {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  target: UpstreamTarget;
  headers: OutgoingHeaders;
  timeouts: InferenceTimeouts;
  /** Runs the connect, headers and idle limits. */
  clock: Clock;
  direct: boolean;
  requestId: string;
  /** Answers on the raw socket with a gateway error (used before anything else was written). */
  sendError(kind: 'bad_gateway' | 'timeout', message: string): number;
}

/** Writes an HTTP/1.1 response head on a raw socket. */
export function responseHead(status: number, statusMessage: string, headers: [string, string][]): string {
  const lines = [`HTTP/1.1 ${status} ${statusMessage}`];
  for (const [name, value] of headers) {
    // Header values come from a parsed HTTP message and cannot hold CR/LF, but a raw write must not trust that.
    if (!/[\r\n]/.test(name + value)) lines.push(`${name}: ${value}`);
  }
  return lines.join('\r\n') + '\r\n\r\n';
}

function rawPairs(rawHeaders: string[], keep: (lower: string) => boolean): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (keep(rawHeaders[i]!.toLowerCase())) out.push([rawHeaders[i]!, rawHeaders[i + 1]!]);
  }
  return out;
}

export function forwardWebsocket(o: WebsocketForwardOptions): Promise<WebsocketForwardResult> {
  const { socket, target, timeouts } = o;
  if (socket.destroyed) {
    return Promise.resolve({ status: 0, outcome: 'client_aborted', error: 'client_closed', upstreamHeadersAt: undefined, bytesIn: 0, bytesOut: 0 });
  }
  return new Promise((resolve) => {
    let settled = false;
    let status = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    let upstreamHeadersAt: number | undefined;
    let upSocket: Duplex | undefined;
    let answered = false;

    const finish = (outcome: WebsocketForwardResult['outcome'], error?: string) => {
      if (settled) return;
      settled = true;
      connect.clear();
      headers.clear();
      idle.clear();
      upReq.destroy();
      upSocket?.destroy();
      socket.destroy();
      resolve({ status, outcome, error, upstreamHeadersAt, bytesIn, bytesOut });
    };
    const failBeforeAnswer = (outcome: 'upstream_unreachable' | 'upstream_timeout', error: string, kind: 'bad_gateway' | 'timeout', message: string) => {
      if (settled) return;
      if (!answered) {
        answered = true;
        status = o.sendError(kind, message);
      }
      finish(outcome, error);
    };

    const upstreamName = target.host;
    const connect = new Deadline(
      timeouts.connectMs,
      () => failBeforeAnswer('upstream_timeout', 'connect_timeout', 'timeout', `the upstream ${upstreamName} did not accept a connection within ${timeouts.connectMs} ms`),
      o.clock,
    );
    const headers = new Deadline(
      timeouts.headersMs,
      () => failBeforeAnswer('upstream_timeout', 'headers_timeout', 'timeout', `the upstream ${upstreamName} did not answer the websocket upgrade within ${timeouts.headersMs} ms`),
      o.clock,
    );
    const idle = new Deadline(timeouts.idleMs, () => finish('stream_interrupted', 'idle_timeout'), o.clock);

    socket.on('error', () => {
      /* 'close' follows */
    });
    socket.on('close', () => {
      if (!settled) finish(status === 101 ? 'ok' : 'client_aborted', status === 101 ? undefined : 'client_closed');
    });

    const upReq = openUpstreamRequest({
      target,
      method: 'GET',
      headers: o.headers,
      // An upgraded socket leaves HTTP for good; it must not come from (or go back to) a keep-alive pool.
      agents: false,
      connect,
      headersDeadline: headers,
      doneWaiting: () => settled || answered,
    });
    upReq.on('error', (err: NodeJS.ErrnoException) => {
      const code = typeof err.code === 'string' ? err.code : 'upstream_error';
      if (!answered) failBeforeAnswer('upstream_unreachable', code, 'bad_gateway', `could not reach the upstream ${upstreamName} (${code})`);
      else finish('stream_interrupted', code);
    });

    // The upstream refused the upgrade (401, 404, ...): relay its answer as it is.
    upReq.on('response', (res) => {
      answered = true;
      upstreamHeadersAt = performance.now();
      connect.clear();
      headers.clear();
      status = res.statusCode ?? 502;
      const pairs = rawPairs(res.rawHeaders, (h) => !['connection', 'keep-alive', 'transfer-encoding', 'content-length'].includes(h) && (o.direct || h !== 'set-cookie'));
      pairs.push(['x-heimdall-request-id', o.requestId], ['connection', 'close']);
      socket.write(responseHead(status, res.statusMessage ?? '', pairs));
      res.on('data', (chunk: Buffer) => {
        bytesOut += chunk.length;
        socket.write(chunk);
      });
      res.on('end', () => {
        socket.end();
        finish('ok');
      });
      res.on('error', () => finish('stream_interrupted', 'upstream_closed'));
    });

    upReq.on('upgrade', (res: IncomingMessage, up: Duplex, upHead: Buffer) => {
      answered = true;
      upSocket = up;
      upstreamHeadersAt = performance.now();
      connect.clear();
      headers.clear();
      status = 101;
      const pairs = rawPairs(res.rawHeaders, (h) => o.direct || h !== 'set-cookie');
      pairs.push(['x-heimdall-request-id', o.requestId]);
      socket.write(responseHead(101, res.statusMessage || 'Switching Protocols', pairs));
      up.on('error', () => {
        /* 'close' follows */
      });
      up.on('close', () => {
        if (!settled) {
          socket.end();
          finish('ok');
        }
      });
      idle.reset();
      up.on('data', (chunk: Buffer) => {
        idle.reset();
        bytesOut += chunk.length;
      });
      socket.on('data', (chunk: Buffer) => {
        idle.reset();
        bytesIn += chunk.length;
      });
      if (upHead.length > 0) {
        bytesOut += upHead.length;
        socket.write(upHead);
      }
      if (o.head.length > 0) {
        bytesIn += o.head.length;
        up.write(o.head);
      }
      up.pipe(socket);
      socket.pipe(up);
    });

    upReq.end();
  });
}
