// A strict, incremental HTTP/1.1 response parser for the gateway leg (./gateway-client.ts).
// Responses on a kept-alive connection follow each other with nothing between them, so any
// leniency about where one ends is a way to read one response as two: obs-fold, bare LF,
// Content-Length next to Transfer-Encoding, unknown transfer codings, malformed chunk sizes and
// bytes after the end are all errors here, and the connection is not reused after one.

export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHead {
  status: number;
  statusMessage: string;
  /** Header fields as received, in order: name, value, name, value... */
  rawHeaders: string[];
  /** The connection may carry another request after this response (HTTP/1.1, no `close`). */
  keepAlive: boolean;
  /** `Keep-Alive: timeout=N`: how long the server keeps an idle connection, in seconds. */
  keepAliveTimeoutS?: number;
  framing: BodyFraming;
}

export interface ResponseHandlers {
  onHead(head: ResponseHead): void;
  /** `last`: this chunk completes a Content-Length body (the app's response can end with it). */
  onBody(chunk: Buffer, last: boolean): void;
  onEnd(): void;
}

export class ResponseParseError extends Error {
  readonly code = 'HEIMDALL_BAD_RESPONSE';
}

const CRLF = Buffer.from('\r\n');
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,12})(?:[\t ]*;[\t\x20-\x7e\x80-\xff]*)?$/;
const MAX_CHUNK_LINE_BYTES = 4096;

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'close' | 'done';

export interface ResponseParserOptions {
  /** Bound on the status line and header fields together (and on trailers). */
  maxHeaderBytes: number;
  /** The request was HEAD: whatever the headers say, the response has no body. */
  noBody: boolean;
}

export class ResponseParser {
  readonly #handlers: ResponseHandlers;
  readonly #options: ResponseParserOptions;
  #state: State = 'head';
  /** Bytes of an incomplete head, chunk-size line or trailer section. */
  #pending: Buffer | undefined;
  #remaining = 0;
  #chunkEndSeen = 0;
  /** Bytes received after the response ended: the peer is out of step, never reuse the connection. */
  #trailingBytes = 0;

  constructor(handlers: ResponseHandlers, options: ResponseParserOptions) {
    this.#handlers = handlers;
    this.#options = options;
  }

  get done(): boolean {
    return this.#state === 'done';
  }

  get trailingBytes(): number {
    return this.#trailingBytes;
  }

  /** Parses the next bytes from the connection. Throws ResponseParseError on malformed input. */
  execute(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      switch (this.#state) {
        case 'head':
        case 'trailers': {
          const end = this.#takeThrough(data, offset, '\r\n\r\n', this.#options.maxHeaderBytes, 'response head');
          if (end < 0) return;
          const block = this.#pending!;
          this.#pending = undefined;
          offset = end;
          if (this.#state === 'head') this.#onHead(block.subarray(0, block.length - 4).toString('latin1'));
          else this.#onTrailers(block.subarray(0, block.length - 4).toString('latin1'));
          break;
        }
        case 'length':
        case 'chunk-data': {
          const n = Math.min(this.#remaining, data.length - offset);
          this.#remaining -= n;
          this.#handlers.onBody(data.subarray(offset, offset + n), this.#remaining === 0 && this.#state === 'length');
          offset += n;
          if (this.#remaining === 0) {
            if (this.#state === 'length') this.#end();
            else this.#state = 'chunk-end';
          }
          break;
        }
        case 'chunk-end': {
          // Exactly CRLF after each chunk's data; it may arrive split across reads.
          if (data[offset] !== (this.#chunkEndSeen === 0 ? 0x0d : 0x0a)) throw new ResponseParseError('chunk data is not followed by CRLF');
          offset++;
          if (++this.#chunkEndSeen === 2) {
            this.#chunkEndSeen = 0;
            this.#state = 'chunk-size';
          }
          break;
        }
        case 'chunk-size': {
          const end = this.#takeThrough(data, offset, '\r\n', MAX_CHUNK_LINE_BYTES, 'chunk size line');
          if (end < 0) return;
          const line = this.#pending!.subarray(0, this.#pending!.length - 2).toString('latin1');
          this.#pending = undefined;
          offset = end;
          const m = CHUNK_SIZE_LINE.exec(line);
          if (!m) throw new ResponseParseError(`malformed chunk size line ${JSON.stringify(line.slice(0, 40))}`);
          this.#remaining = parseInt(m[1]!, 16);
          // The last chunk is followed by optional trailer fields and an empty line. The head
          // scanner wants CRLF CRLF, and without trailers only one CRLF is left: seed it with one.
          if (this.#remaining === 0) {
            this.#state = 'trailers';
            this.#pending = CRLF;
          } else {
            this.#state = 'chunk-data';
          }
          break;
        }
        case 'close':
          this.#handlers.onBody(offset === 0 ? data : data.subarray(offset), false);
          return;
        case 'done':
          this.#trailingBytes += data.length - offset;
          return;
      }
    }
  }

  /** The peer closed the connection: that ends a close-delimited body; anywhere else it is an error. */
  finish(): void {
    if (this.#state === 'close') {
      this.#end();
      return;
    }
    if (this.#state !== 'done') throw new ResponseParseError(this.#state === 'head' && !this.#pending ? 'connection closed before a response' : 'connection closed in the middle of a response');
  }

  /**
   * Appends bytes to #pending up to and including `delimiter`; returns the offset in `data` just
   * after it, or -1 when more bytes are needed.
   */
  #takeThrough(data: Buffer, offset: number, delimiter: string, limit: number, what: string): number {
    const before = this.#pending?.length ?? 0;
    const joined = before ? Buffer.concat([this.#pending!, data.subarray(offset)]) : data.subarray(offset);
    const at = joined.indexOf(delimiter, Math.max(0, before - delimiter.length + 1), 'latin1');
    if (at < 0) {
      if (joined.length > limit) throw new ResponseParseError(`${what} exceeds ${limit} bytes`);
      this.#pending = before ? joined : Buffer.from(joined);
      return -1;
    }
    const through = at + delimiter.length;
    if (through > limit + delimiter.length) throw new ResponseParseError(`${what} exceeds ${limit} bytes`);
    this.#pending = joined.subarray(0, through);
    return offset + through - before;
  }

  #onHead(text: string): void {
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw new ResponseParseError(`malformed status line ${JSON.stringify(lines[0]!.slice(0, 60))}`);
    const code = Number(status[2]);
    const rawHeaders = parseFields(lines);
    if (code >= 100 && code < 200) {
      // 100 Continue and 103 Early Hints precede the real answer; 101 was never asked for here.
      if (code === 101) throw new ResponseParseError('101 Switching Protocols without an upgrade request');
      return;
    }
    let contentLength: number | undefined;
    let transferEncoding: string[] | undefined;
    let closeRequested = false;
    let keepAliveTimeoutS: number | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const value = rawHeaders[i + 1]!;
      switch (rawHeaders[i]!.toLowerCase()) {
        case 'content-length':
          for (const part of value.split(',')) {
            const n = /^\s*(\d{1,15})\s*$/.exec(part);
            if (!n || (contentLength !== undefined && contentLength !== Number(n[1]))) throw new ResponseParseError(`invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
            contentLength = Number(n[1]);
          }
          break;
        case 'transfer-encoding':
          (transferEncoding ??= []).push(...value.split(',').map((t) => t.trim().toLowerCase()));
          break;
        case 'connection':
          if (value.split(',').some((t) => t.trim().toLowerCase() === 'close')) closeRequested = true;
          break;
        case 'keep-alive': {
          const t = /(?:^|[,;\s])timeout=(\d{1,6})\b/i.exec(value);
          if (t) keepAliveTimeoutS = Number(t[1]);
          break;
        }
      }
    }
    let framing: BodyFraming;
    if (this.#options.noBody || code === 204 || code === 304) {
      framing = 'none';
    } else if (transferEncoding) {
      if (contentLength !== undefined) throw new ResponseParseError('both Content-Length and Transfer-Encoding');
      if (transferEncoding.length !== 1 || transferEncoding[0] !== 'chunked') throw new ResponseParseError(`unsupported Transfer-Encoding ${JSON.stringify(transferEncoding.join(', '))}`);
      framing = 'chunked';
    } else if (contentLength !== undefined) {
      framing = contentLength === 0 ? 'none' : 'length';
    } else {
      framing = 'close';
    }
    const keepAlive = status[1] === '1' && !closeRequested && framing !== 'close';
    this.#handlers.onHead({
      status: code, statusMessage: status[3] ?? '', rawHeaders, keepAlive, framing,
      ...(keepAliveTimeoutS !== undefined ? { keepAliveTimeoutS } : {}),
    });
    switch (framing) {
      case 'none': this.#end(); break;
      case 'length': this.#state = 'length'; this.#remaining = contentLength!; break;
      case 'chunked': this.#state = 'chunk-size'; break;
      case 'close': this.#state = 'close'; break;
    }
  }

  #onTrailers(text: string): void {
    // Trailer fields are read (and checked) but not passed on: the app gets the body Node's server
    // frames for it, and no provider API sends trailers. The section starts with the seeded CRLF, so
    // its first line is empty, where parseFields expects the status line.
    parseFields(text.split('\r\n'));
    this.#end();
  }

  #end(): void {
    this.#state = 'done';
    this.#handlers.onEnd();
  }
}

/** Field lines after the first line, as a flat name/value list. */
function parseFields(lines: string[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const m = FIELD_LINE.exec(line);
    if (!m) {
      throw new ResponseParseError(line.startsWith(' ') || line.startsWith('\t')
        ? 'obsolete line folding in a header field'
        : `malformed header field ${JSON.stringify(line.slice(0, 60))}`);
    }
    out.push(m[1]!, m[2]!);
  }
  return out;
}
