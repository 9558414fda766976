// Kept-alive HTTP/1.1 connections to the organization's gateway, and one request/response exchange
// at a time over each. This is the governed inference path, every request of every AI app on the
// machine, so it is purpose-built: the request head is written in one piece, the response is read
// by ./response-parser.ts and handed straight to the app's response, with no ClientRequest, Agent
// or IncomingMessage between them. That machinery cost about a third of the proxy's CPU per
// request (docs/performance.md). Origin-mode hosts and plain http:// proxying, which talk to
// servers on the internet, keep Node's client; websocket upgrades to the gateway too (./upgrade.ts).
import net from 'node:net';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import type { LookupFunction } from './dns-cache.ts';
import { ResponseParseError, ResponseParser, type ResponseHead } from './response-parser.ts';

/** A timer of ours ended the exchange. */
export class ForwardTimeoutError extends Error {
  readonly phase: 'connect' | 'response-headers';
  constructor(phase: 'connect' | 'response-headers', ms: number) {
    super(`${phase} timeout after ${ms} ms`);
    this.phase = phase;
  }
}

export interface GatewayClientOptions {
  /** The gateway's origin (`https://host:port`); its path is the caller's business. */
  origin: URL;
  /** Trust for an https gateway (the OS store, or a private CA). */
  secureContext?: tls.SecureContext;
  lookup: LookupFunction;
  connectTimeoutMs: number;
  /**
   * Most connections open to the gateway at once, in use or idle (default 1024). HTTP/1.1 carries one
   * exchange per connection, so the pool grows to the number of requests in flight, up to this cap;
   * past it a request waits for the next connection that frees up. An idle connection is kept until
   * `idleConnectionMs` has passed unused, so the pool shrinks back once the load is gone.
   */
  maxConnections?: number;
  /** Longest an unused connection is kept (shortened to what the gateway announces). */
  idleConnectionMs?: number;
  maxResponseHeaderBytes?: number;
}

export interface GatewayRequest {
  method: string;
  /** Path and query, already rewritten for the gateway. */
  path: string;
  headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /**
   * The app's request body: a stream sent on with backpressure, or the whole body when the app had
   * already sent all of it (it then leaves with the head in a single write); null when there is none.
   */
  body: Readable | Buffer | null;
}

/** Where the response goes. Exactly one of end() or fail() is called, unless the call is aborted. */
export interface ResponseSink {
  head(head: ResponseHead): void;
  /**
   * Returns false to stop reading from the gateway until the call's resume(). `last`: nothing
   * follows this chunk but end().
   */
  body(chunk: Buffer, last: boolean): boolean;
  end(): void;
  fail(err: NodeJS.ErrnoException): void;
}

export interface GatewayCall {
  resume(): void;
  /** The app went away: drop the exchange and its connection. No sink callback follows. */
  abort(): void;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_TARGET = /^\/[\x21-\x7e]*$/;

/** Hands a connection back when an exchange is over: to the idle pool, or closed. */
type ConnectionDone = (conn: Connection, reusable: boolean, keepAliveS: number | undefined) => void;

/** A connection to the gateway; `call` is the exchange using it, undefined while idle. */
interface Connection {
  socket: net.Socket;
  call: Call | undefined;
  error: NodeJS.ErrnoException | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  idleMs: number;
}

export class GatewayClient {
  readonly #options: Required<Omit<GatewayClientOptions, 'secureContext'>> & Pick<GatewayClientOptions, 'secureContext'>;
  readonly #host: string;
  readonly #port: number;
  readonly #tls: boolean;
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  /** Requests waiting for a connection because `maxConnections` are open, oldest first. */
  #waiting: Call[] = [];
  #closed = false;
  /**
   * The gateway's latest TLS session ticket, offered on the next new connection so it resumes
   * instead of repeating the full handshake (certificate chain check, signature), as Node's
   * https.Agent does. It is kept only for the life of this client, which is built for one gateway
   * origin and one trust store, and only in memory.
   */
  #session: Buffer | undefined;

  constructor(options: GatewayClientOptions) {
    this.#options = { maxConnections: 1024, idleConnectionMs: 15_000, maxResponseHeaderBytes: 64 * 1024, ...options };
    this.#tls = options.origin.protocol === 'https:';
    this.#host = options.origin.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(options.origin.port || (this.#tls ? 443 : 80));
  }

  /** Sends a request. Throws (before any byte is sent) when a header or the path cannot be sent. */
  request(request: GatewayRequest, sink: ResponseSink): GatewayCall {
    const head = serializeHead(request);
    const call = new Call(this.#options.maxResponseHeaderBytes, request, head, sink, this.#release);
    const idle = this.#takeIdle();
    if (idle) call.start(idle);
    else if (this.#all.size < this.#options.maxConnections) call.start(this.#connect());
    else this.#waiting.push(call);
    return call;
  }

  /** The oldest waiting request the app has not given up on. */
  #nextWaiting(): Call | undefined {
    while (this.#waiting.length > 0) {
      const call = this.#waiting.shift()!;
      if (!call.aborted) return call;
    }
    return undefined;
  }

  /** Connections open now, idle or in use (tests). */
  get connections(): { open: number; idle: number; waiting: number } {
    return { open: this.#all.size, idle: this.#idle.length, waiting: this.#waiting.length };
  }

  /** Closes every connection, in use or not (shutdown, after the proxy drained). */
  close(): void {
    this.#closed = true;
    this.#session = undefined;
    for (const conn of this.#all) conn.socket.destroy();
    this.#idle.length = 0;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const call of waiting) call.failWaiting(hangUp('client closed before a connection was free'));
  }

  #takeIdle(): Connection | undefined {
    while (this.#idle.length > 0) {
      const conn = this.#idle.pop()!;
      if (!conn.socket.destroyed && conn.socket.writable && conn.socket.readable) {
        conn.socket.ref();
        return conn;
      }
      conn.socket.destroy();
    }
    return undefined;
  }

  #connect(): Connection {
    const { connectTimeoutMs, lookup, secureContext } = this.#options;
    const offered = this.#tls ? this.#session : undefined;
    const socket: net.Socket = this.#tls
      ? tls.connect({
        host: this.#host, port: this.#port, lookup, ALPNProtocols: ['http/1.1'],
        ...(secureContext ? { secureContext } : {}),
        ...(net.isIP(this.#host) ? {} : { servername: this.#host }),
        ...(offered ? { session: offered } : {}),
      })
      : net.connect({ host: this.#host, port: this.#port, lookup });
    socket.setNoDelay(true);
    const conn: Connection = { socket, call: undefined, error: undefined, idleTimer: undefined, idleMs: 0 };
    this.#all.add(conn);
    const connectTimer = setTimeout(() => socket.destroy(new ForwardTimeoutError('connect', connectTimeoutMs)), connectTimeoutMs);
    let connected = false;
    socket.once(this.#tls ? 'secureConnect' : 'connect', () => { connected = true; clearTimeout(connectTimer); });
    if (this.#tls) socket.on('session', (session: Buffer) => { if (!this.#closed) this.#session = session; });
    // One set of listeners per connection, not per request: they hand events to the current call.
    socket.on('data', (data: Buffer) => {
      if (conn.call) conn.call.onData(data);
      else socket.destroy(); // bytes nobody asked for: the connection is out of step
    });
    socket.on('drain', () => conn.call?.onDrain());
    socket.on('error', (err: NodeJS.ErrnoException) => {
      conn.error ??= err;
      // A handshake that failed with a ticket offered may have failed because of it: the next
      // connection starts afresh.
      if (!connected && offered && this.#session === offered) this.#session = undefined;
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
      clearTimeout(conn.idleTimer);
      this.#all.delete(conn);
      const at = this.#idle.indexOf(conn);
      if (at >= 0) this.#idle.splice(at, 1);
      conn.call?.onClose(conn.error);
      // A place in the pool freed up: the oldest waiting request takes it.
      if (!this.#closed && this.#all.size < this.#options.maxConnections) this.#nextWaiting()?.start(this.#connect());
    });
    return conn;
  }

  readonly #release: ConnectionDone = (conn, reusable, keepAliveS) => this.#done(conn, reusable, keepAliveS);

  #done(conn: Connection, reusable: boolean, keepAliveS: number | undefined): void {
    conn.call = undefined;
    // A server that announces its idle timeout closes at that moment; stop using the connection a
    // second earlier so a request is never sent into its close.
    const idleMs = Math.min(this.#options.idleConnectionMs, keepAliveS !== undefined ? keepAliveS * 1000 - 1000 : Infinity);
    if (!reusable || this.#closed) {
      conn.socket.destroy();
      return;
    }
    // A request waiting for a place takes this connection as it is, warm.
    const next = this.#nextWaiting();
    if (next) {
      next.start(conn);
      return;
    }
    if (idleMs <= 0) {
      conn.socket.destroy();
      return;
    }
    if (conn.idleTimer && conn.idleMs === idleMs) {
      conn.idleTimer.refresh();
    } else {
      clearTimeout(conn.idleTimer);
      conn.idleMs = idleMs;
      conn.idleTimer = setTimeout(() => { if (!conn.call) conn.socket.destroy(); }, idleMs).unref();
    }
    conn.socket.unref();
    this.#idle.push(conn);
  }
}

/** One request and its response on one connection. */
class Call implements GatewayCall {
  readonly #request: GatewayRequest;
  readonly #head: string;
  readonly #sink: ResponseSink;
  readonly #parser: ResponseParser;
  readonly #done: ConnectionDone;
  readonly #chunked: boolean;
  /** The body when it is a stream. */
  readonly #stream: Readable | null;
  #conn: Connection | undefined;
  #requestSent = false;
  #bodyPaused = false;
  #response: ResponseHead | undefined;
  #over = false;

  constructor(maxHeaderBytes: number, request: GatewayRequest, head: string, sink: ResponseSink, done: ConnectionDone) {
    this.#request = request;
    this.#head = head;
    this.#sink = sink;
    this.#done = done;
    this.#stream = request.body instanceof Readable ? request.body : null;
    this.#chunked = this.#stream !== null && request.headers['content-length'] === undefined;
    this.#parser = new ResponseParser({
      onHead: (h) => { this.#response = h; this.#sink.head(h); },
      onBody: (chunk, last) => { if (!this.#over && !this.#sink.body(chunk, last)) this.#conn?.socket.pause(); },
      onEnd: () => {},
    }, { maxHeaderBytes, noBody: request.method === 'HEAD' });
  }

  start(conn: Connection): void {
    this.#conn = conn;
    conn.call = this;
    const { socket } = conn;
    const body = this.#stream;
    if (!body) {
      // Head and body already in hand: one buffer, one write, nothing to wait for.
      socket.write(joinHead(this.#head, this.#request.body as Buffer | null));
      this.#requestSent = true;
      return;
    }
    // The head and the first part of the body leave in one write when the body is already here.
    socket.cork();
    socket.write(this.#head, 'latin1');
    body.on('data', this.#onBodyData);
    body.once('end', this.#onBodyEnd);
    process.nextTick(() => socket.uncork());
  }

  onData(data: Buffer): void {
    if (this.#over) return;
    try {
      this.#parser.execute(data);
    } catch (err) {
      // A malformed response, or a head the app's response refuses (Node validates it again): the
      // exchange fails with a reason; the daemon goes on.
      this.#fail(err instanceof Error ? err : new ResponseParseError(String(err)));
      return;
    }
    if (this.#parser.done) this.#complete();
  }

  onDrain(): void {
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      this.#stream?.resume();
    }
  }

  onClose(error: NodeJS.ErrnoException | undefined): void {
    if (this.#over) return;
    try {
      // A response without framing ends when the gateway closes the connection.
      this.#parser.finish();
    } catch (err) {
      this.#fail(error ?? hangUp((err as Error).message));
      return;
    }
    this.#complete();
  }

  resume(): void {
    if (!this.#over) this.#conn?.socket.resume();
  }

  /** The client closed while this request waited for a connection. */
  failWaiting(err: NodeJS.ErrnoException): void {
    if (!this.#over) this.#fail(err);
  }

  /** The app gave up before the exchange ended (a waiting request is then skipped). */
  get aborted(): boolean {
    return this.#over && this.#conn === undefined;
  }

  abort(): void {
    if (this.#over) return;
    this.#over = true;
    this.#detachBody();
    this.#conn?.socket.destroy();
  }

  readonly #onBodyData = (chunk: Buffer): void => {
    const socket = this.#conn!.socket;
    if (this.#chunked) socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    let ok = socket.write(chunk);
    if (this.#chunked) ok = socket.write('\r\n', 'latin1');
    if (!ok) {
      this.#bodyPaused = true;
      this.#stream!.pause();
    }
  };

  readonly #onBodyEnd = (): void => {
    if (this.#chunked) this.#conn!.socket.write('0\r\n\r\n', 'latin1');
    this.#requestSent = true;
  };

  #complete(): void {
    this.#over = true;
    const conn = this.#conn!;
    const reusable = this.#requestSent && this.#response?.keepAlive === true && this.#parser.trailingBytes === 0 && !conn.socket.destroyed;
    // The gateway answered before the whole body was sent (413, 401...): the rest is not sent,
    // and that connection cannot carry another request.
    if (!this.#requestSent) this.#detachBody();
    this.#done(conn, reusable, this.#response?.keepAliveTimeoutS);
    this.#sink.end();
  }

  #fail(err: NodeJS.ErrnoException): void {
    this.#over = true;
    this.#detachBody();
    this.#conn?.socket.destroy();
    this.#sink.fail(err);
  }

  #detachBody(): void {
    const body = this.#stream;
    if (!body) return;
    body.off('data', this.#onBodyData);
    body.off('end', this.#onBodyEnd);
    // Whatever the app still sends is read and dropped, so its side of the exchange can finish.
    body.resume();
  }
}

function serializeHead(request: GatewayRequest): string {
  if (!REQUEST_TARGET.test(request.path)) throw new Error(`cannot send request target ${JSON.stringify(request.path.slice(0, 80))}`);
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  for (const name in request.headers) {
    const value = request.headers[name];
    if (value === undefined) continue;
    if (!HEADER_NAME.test(name)) throw new Error(`cannot send header name ${JSON.stringify(name.slice(0, 40))}`);
    if (typeof value === 'string') head += fieldLine(name, value);
    else for (const v of value) head += fieldLine(name, v);
  }
  if (Buffer.isBuffer(request.body) && request.headers['content-length'] === undefined) head += `content-length: ${request.body.length}\r\n`;
  else if (request.body !== null && request.headers['content-length'] === undefined) head += 'transfer-encoding: chunked\r\n';
  return `${head}\r\n`;
}

function joinHead(head: string, body: Buffer | null): Buffer {
  const headBytes = head.length; // latin1: one byte per character
  const out = Buffer.allocUnsafe(headBytes + (body?.length ?? 0));
  out.write(head, 0, 'latin1');
  body?.copy(out, headBytes);
  return out;
}

function fieldLine(name: string, value: string): string {
  if (!HEADER_VALUE.test(value)) throw new Error(`cannot send header ${name}: its value has control characters`);
  return `${name}: ${value}\r\n`;
}

function hangUp(message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`gateway ${message}`);
  err.code = 'ECONNRESET';
  return err;
}
