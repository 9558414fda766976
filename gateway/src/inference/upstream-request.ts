// Opens the request to the upstream that both the HTTP and the websocket forwarders send, with the
// connect limit running until the socket connects and the response-headers limit from the moment the
// request is fully sent until the upstream answers.
import http from 'node:http';
import https from 'node:https';
import type { Deadline } from './deadline.ts';
import type { OutgoingHeaders } from './providers.ts';

/** Where one exchange goes: an upstream base URL joined with the request's path and query. */
export interface UpstreamTarget {
  https: boolean;
  /** Without the brackets of an IPv6 literal, as `http.request` wants it. */
  hostname: string;
  port: number;
  /** `host[:port]` as the base URL has it: what error messages name. */
  host: string;
  /** Path and query, as sent in the request line. */
  path: string;
}

interface UpstreamBase {
  https: boolean;
  hostname: string;
  port: number;
  host: string;
  /** The base URL's path without trailing slashes ('' for the root). */
  prefix: string;
}

// The parts of each configured base URL, read once: parsing a URL for every request showed in the
// gateway's profile (docs/performance.md).
const bases = new WeakMap<URL, UpstreamBase>();

function baseOf(url: URL): UpstreamBase {
  let base = bases.get(url);
  if (base === undefined) {
    const isHttps = url.protocol === 'https:';
    base = {
      https: isHttps,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? (isHttps ? 443 : 80) : Number(url.port),
      host: url.host,
      prefix: url.pathname.replace(/\/+$/, ''),
    };
    bases.set(url, base);
  }
  return base;
}

// Characters the URL parser leaves as they are in a path and in a query of an http(s) URL. A path or
// query made only of these joins by concatenation to exactly what the URL setters would produce;
// anything else (a space, a quote, non-ASCII, a dot segment or an encoded dot that the parser would
// resolve) goes through the URL setters as before.
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/;
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*$/;
const DOT_SEGMENT = /%2e|(?:^|\/)\.\.?(?:\/|$)/i;

/** The base URL's path followed by `path` (already checked by unsafePathReason), and `query` (no `?`). */
export function joinUpstreamTarget(baseUrl: URL, path: string, query: string): UpstreamTarget {
  const base = baseOf(baseUrl);
  let pathAndQuery: string;
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path) && PLAIN_QUERY.test(query)) {
    pathAndQuery = query ? `${base.prefix}${path}?${query}` : base.prefix + path;
  } else {
    const url = new URL(baseUrl.href);
    url.pathname = base.prefix + path;
    url.search = query ? `?${query}` : '';
    pathAndQuery = url.pathname + url.search;
  }
  return { https: base.https, hostname: base.hostname, port: base.port, host: base.host, path: pathAndQuery };
}

export interface UpstreamRequestOptions {
  target: UpstreamTarget;
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
  const t = o.target;
  const upReq = (t.https ? https : http).request({
    protocol: t.https ? 'https:' : 'http:',
    hostname: t.hostname,
    port: t.port,
    path: t.path,
    method: o.method,
    headers: o.headers,
    agent: o.agents === false ? false : t.https ? o.agents.https : o.agents.http,
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
