// Opens the request to the upstream that both the HTTP and the websocket forwarders send, with the
// connect limit running until the socket connects and the response-headers limit from the moment the
// request is fully sent until the upstream answers.
import http from 'node:http';
import https from 'node:https';
import type { Deadline } from './deadline.ts';
import type { OutgoingHeaders } from './providers.ts';

export interface UpstreamRequestOptions {
  target: URL;
  method: string;
  headers: OutgoingHeaders;
  /** The keep-alive agents to draw from, or false for a socket of its own (an upgrade never returns to a pool). */
  agents: { http: http.Agent; https: https.Agent } | false;
  connect: Deadline;
  headersDeadline: Deadline;
  /** True once the exchange has ended or the upstream has answered: the headers limit no longer applies. */
  doneWaiting: () => boolean;
}

export function openUpstreamRequest(o: UpstreamRequestOptions): http.ClientRequest {
  const isHttps = o.target.protocol === 'https:';
  const upReq = (isHttps ? https : http).request({
    protocol: o.target.protocol,
    hostname: o.target.hostname.replace(/^\[|\]$/g, ''),
    port: o.target.port || (isHttps ? 443 : 80),
    path: o.target.pathname + o.target.search,
    method: o.method,
    headers: o.headers,
    agent: o.agents === false ? false : isHttps ? o.agents.https : o.agents.http,
  });
  o.connect.reset();
  upReq.on('socket', (socket) => {
    if (socket.connecting) socket.once('connect', () => o.connect.clear());
    else o.connect.clear();
  });
  upReq.on('finish', () => {
    if (!o.doneWaiting()) o.headersDeadline.reset();
  });
  return upReq;
}
