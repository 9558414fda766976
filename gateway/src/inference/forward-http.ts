// Forwards one HTTP exchange to the upstream and streams both bodies through as they arrive
// (SSE chunk by chunk, nothing buffered), with separate connect, response-headers and idle limits.
import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type https from 'node:https';
import type { InferenceTimeouts } from './config.ts';
import { downstreamHeaders } from './credentials.ts';
import type { Clock } from '../../../lib/index.ts';
import { Deadline } from './deadline.ts';
import { openUpstreamRequest, type UpstreamTarget } from './upstream-request.ts';
import type { ErrorKind } from '../../../protocol/index.ts';
import type { OutgoingHeaders } from './providers.ts';

export interface Agents {
  http: http.Agent;
  https: https.Agent;
}

export interface HttpForwardResult {
  outcome: 'ok' | 'upstream_unreachable' | 'upstream_timeout' | 'stream_interrupted' | 'client_aborted';
  error: string | undefined;
  upstreamHeadersAt: number | undefined;
}

export interface HttpForwardOptions {
  req: IncomingMessage;
  res: ServerResponse;
  target: UpstreamTarget;
  headers: OutgoingHeaders;
  timeouts: InferenceTimeouts;
  /** Runs the connect, headers and idle limits. */
  clock: Clock;
  agents: Agents;
  /** The app's own credential is in use: provider cookies may flow back. */
  direct: boolean;
  requestId: string;
  /** Sees each request body chunk as it passes (byte counts, model sniffing). */
  onRequestChunk(chunk: Buffer): void;
  /** Sees each response body chunk as it passes. */
  onResponseChunk(chunk: Buffer): void;
  /** Answers the client with a gateway error when nothing was sent yet. */
  sendError(kind: ErrorKind, message: string): void;
}

/** Network errors that mean "could not reach or talk to the upstream" rather than a bug here. */
function describeNetworkError(err: NodeJS.ErrnoException): string {
  return typeof err.code === 'string' && /^[A-Z0-9_]{2,40}$/.test(err.code) ? err.code : 'upstream_error';
}

export function forwardHttp(o: HttpForwardOptions): Promise<HttpForwardResult> {
  const { req, res, target, timeouts } = o;
  // The client may have left while the virtual key was being checked: its 'close' is already past.
  if (res.destroyed || (req.destroyed && !req.complete)) {
    return Promise.resolve({ outcome: 'client_aborted', error: 'client_closed', upstreamHeadersAt: undefined });
  }
  return new Promise((resolve) => {
    let settled = false;
    let upstreamHeadersAt: number | undefined;
    let upRes: IncomingMessage | undefined;

    const finish = (outcome: HttpForwardResult['outcome'], error?: string) => {
      if (settled) return;
      settled = true;
      connect.clear();
      headers.clear();
      idle.clear();
      upload.clear();
      resolve({ outcome, error, upstreamHeadersAt });
    };

    // Fails the exchange: a gateway error if the client has heard nothing yet, otherwise a cut stream.
    const fail = (outcome: HttpForwardResult['outcome'], error: string, kind: ErrorKind, message: string) => {
      if (settled) return;
      upReq.destroy();
      upRes?.destroy();
      if (!res.headersSent) {
        o.sendError(kind, message);
      } else {
        res.destroy();
      }
      req.resume();
      finish(outcome, error);
    };

    const upstreamName = target.host;
    const connect = new Deadline(
      timeouts.connectMs,
      () => fail('upstream_timeout', 'connect_timeout', 'timeout', `the upstream ${upstreamName} did not accept a connection within ${timeouts.connectMs} ms`),
      o.clock,
    );
    const headers = new Deadline(
      timeouts.headersMs,
      () => fail('upstream_timeout', 'headers_timeout', 'timeout', `the upstream ${upstreamName} did not answer within ${timeouts.headersMs} ms`),
      o.clock,
    );
    const idle = new Deadline(
      timeouts.idleMs,
      () => fail('stream_interrupted', 'idle_timeout', 'timeout', `the upstream ${upstreamName} went silent for ${timeouts.idleMs} ms`),
      o.clock,
    );
    const upload = new Deadline(
      timeouts.idleMs,
      () => fail('client_aborted', 'client_idle_timeout', 'request_timeout', `the request body stalled for ${timeouts.idleMs} ms`),
      o.clock,
    );

    const upReq = openUpstreamRequest({
      target,
      method: req.method ?? 'GET',
      headers: o.headers,
      agents: o.agents,
      connect,
      headersDeadline: headers,
      doneWaiting: () => settled || upRes !== undefined,
    });
    upReq.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      const code = describeNetworkError(err);
      if (upRes) fail('stream_interrupted', code, 'bad_gateway', 'the upstream connection broke');
      else fail('upstream_unreachable', code, 'bad_gateway', `could not reach the upstream ${upstreamName} (${code})`);
    });

    upReq.on('response', (response) => {
      upRes = response;
      upstreamHeadersAt = performance.now();
      connect.clear();
      headers.clear();
      const out = downstreamHeaders(response.rawHeaders, { direct: o.direct });
      out.push('x-heimdall-request-id', o.requestId);
      res.writeHead(response.statusCode ?? 502, response.statusMessage, out);
      // The head leaves with the first body chunk when that came in the same read (a whole JSON
      // answer: one write to the client instead of two); otherwise at the end of this turn, before the
      // first token, so a client waiting on a slow model still sees the answer start.
      let bodyStarted = false;
      const flushHead = setImmediate(() => {
        if (!bodyStarted && !res.writableEnded && !res.destroyed) res.flushHeaders();
      });
      idle.reset();
      // Relayed by hand rather than with pipe(): the same backpressure (pause on a full client socket,
      // resume on its 'drain') without pipe's five listeners per side and its unpipe bookkeeping.
      response.on('data', (chunk: Buffer) => {
        bodyStarted = true;
        idle.reset();
        o.onResponseChunk(chunk);
        if (!res.write(chunk)) response.pause();
      });
      res.on('drain', () => response.resume());
      response.on('end', () => {
        idle.clear();
        if (!settled) res.end();
      });
      response.on('error', () => {
        /* reported through 'close' with complete === false */
      });
      response.on('close', () => {
        clearImmediate(flushHead);
        if (!response.complete && !settled) fail('stream_interrupted', 'upstream_closed', 'bad_gateway', 'the upstream closed the stream early');
      });
    });

    res.on('close', () => {
      if (settled) return;
      if (res.writableFinished) {
        finish('ok');
      } else {
        upReq.destroy();
        upRes?.destroy();
        finish('client_aborted', 'client_closed');
      }
    });

    upload.reset();
    // The request body, relayed the same way (pause on a full upstream socket, resume on its 'drain').
    // After the exchange settled the rest of the body is read and dropped.
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      upload.reset();
      o.onRequestChunk(chunk);
      if (!upReq.write(chunk)) req.pause();
    });
    upReq.on('drain', () => req.resume());
    req.on('end', () => {
      upload.clear();
      if (!settled) upReq.end();
    });
    req.on('error', () => {
      /* the client went away; 'close' on res settles it */
    });
  });
}
