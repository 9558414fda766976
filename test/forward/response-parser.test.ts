// The gateway leg's response parser: every framing, fed whole and split at every byte, and each
// ambiguity that could make one response read as two refused with a reason.
import { describe, expect, it } from 'vitest';
import { ResponseParseError, ResponseParser, type ResponseHead } from '../../agent/src/forward/response-parser.ts';

interface Parsed {
  heads: ResponseHead[];
  body: string;
  ended: number;
  /** Body chunks flagged as the last of a Content-Length body. */
  lastSeen: number;
  trailingBytes: number;
}

function parse(wire: string | Buffer, options: { noBody?: boolean; split?: number[]; close?: boolean; maxHeaderBytes?: number } = {}): Parsed {
  const out: Parsed = { heads: [], body: '', ended: 0, lastSeen: 0, trailingBytes: 0 };
  const parser = new ResponseParser({
    onHead: (h) => out.heads.push(h),
    onBody: (chunk, last) => { out.body += chunk.toString('latin1'); if (last) out.lastSeen++; },
    onEnd: () => { out.ended++; },
  }, { maxHeaderBytes: options.maxHeaderBytes ?? 16 * 1024, noBody: options.noBody ?? false });
  const bytes = Buffer.isBuffer(wire) ? wire : Buffer.from(wire, 'latin1');
  let at = 0;
  for (const cut of [...(options.split ?? []), bytes.length]) {
    parser.execute(bytes.subarray(at, cut));
    at = cut;
  }
  if (options.close) parser.finish();
  out.trailingBytes = parser.trailingBytes;
  return out;
}

/** The same parse with the bytes cut in two at every position: the result must not change. */
function expectSameAtEverySplit(wire: string, options: { close?: boolean } = {}): Parsed {
  const whole = parse(wire, options);
  for (let cut = 1; cut < wire.length; cut++) {
    expect(parse(wire, { ...options, split: [cut] }), `cut at ${cut}`).toEqual(whole);
  }
  return whole;
}

function parseError(wire: string, options: { noBody?: boolean; close?: boolean; maxHeaderBytes?: number } = {}): string {
  try {
    parse(wire, options);
  } catch (err) {
    expect(err).toBeInstanceOf(ResponseParseError);
    return (err as Error).message;
  }
  throw new Error('expected a ResponseParseError');
}

describe('framing', () => {
  it('reads a Content-Length body, keeps header names and order as sent, and ends once', () => {
    const r = expectSameAtEverySplit('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: r1\r\nContent-Length: 11\r\nKeep-Alive: timeout=5\r\n\r\n{"ok":true}');
    expect(r.heads).toEqual([{
      status: 200, statusMessage: 'OK', framing: 'length', keepAlive: true, keepAliveTimeoutS: 5,
      rawHeaders: ['Content-Type', 'application/json', 'X-Request-Id', 'r1', 'Content-Length', '11', 'Keep-Alive', 'timeout=5'],
    }]);
    expect(r.body).toBe('{"ok":true}');
    expect(r.ended).toBe(1);
    expect(r.lastSeen).toBe(1);
  });

  it('de-chunks a chunked body with extensions and trailers', () => {
    const r = expectSameAtEverySplit('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6;name=v\r\ndata: \r\n9\r\nfirst\r\n\r\n\r\n0\r\nx-trailer: t\r\n\r\n');
    expect(r.heads[0]).toMatchObject({ framing: 'chunked', keepAlive: true });
    expect(r.body).toBe('data: first\r\n\r\n');
    expect(r.ended).toBe(1);
    expect(r.lastSeen).toBe(0); // a chunked body's end is only known at the last chunk
  });

  it('ends a chunked body without trailers at the empty line', () => {
    const r = expectSameAtEverySplit('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(r).toMatchObject({ body: 'abc', ended: 1, trailingBytes: 0 });
  });

  it('reads a body without framing until the connection closes, and never reuses that connection', () => {
    const open = parse('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nsome');
    expect(open).toMatchObject({ body: 'some', ended: 0 });
    expect(open.heads[0]).toMatchObject({ framing: 'close', keepAlive: false });
    expect(expectSameAtEverySplit('HTTP/1.1 200 OK\r\n\r\nall of it', { close: true })).toMatchObject({ body: 'all of it', ended: 1 });
  });

  it('has no body for HEAD, 204 and 304, whatever the headers say', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n', { noBody: true })).toMatchObject({ body: '', ended: 1 });
    expect(parse('HTTP/1.1 204 No Content\r\n\r\n')).toMatchObject({ ended: 1 });
    expect(parse('HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n')).toMatchObject({ ended: 1 });
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').heads[0]).toMatchObject({ framing: 'none', keepAlive: true });
  });

  it('skips 100 Continue and 103 Early Hints and reports the final response only', () => {
    const r = expectSameAtEverySplit('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok');
    expect(r.heads.map((h) => h.status)).toEqual([201]);
    expect(r.body).toBe('ok');
  });

  it('does not keep alive after Connection: close or an HTTP/1.0 response', () => {
    expect(parse('HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n').heads[0]!.keepAlive).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').heads[0]!.keepAlive).toBe(false);
  });

  it('counts bytes after the end of the response instead of reading them as another one', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n')).toMatchObject({ body: 'ok', ended: 1, trailingBytes: 19 });
  });

  it('accepts identical repeated Content-Length values', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok').body).toBe('ok');
  });
});

describe('refusals', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['Content-Length beside Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', /both Content-Length and Transfer-Encoding/],
    ['a transfer coding other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', /unsupported Transfer-Encoding "gzip, chunked"/],
    ['differing Content-Length values', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok', /invalid Content-Length/],
    ['a non-numeric Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n', /invalid Content-Length/],
    ['obsolete line folding', 'HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n', /obsolete line folding/],
    ['a bare LF inside the head', 'HTTP/1.1 200 OK\r\nX-A: one\nContent-Length: 5\r\n\r\n', /malformed header field/],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n', /malformed header field/],
    ['a status line that is not HTTP/1.x', 'HTTP/2 200\r\n\r\n', /malformed status line/],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1x\r\na\r\n0\r\n\r\n', /malformed chunk size line "1x"/],
    ['a chunk size with a sign', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+1\r\na\r\n0\r\n\r\n', /malformed chunk size line/],
    ['chunk data longer than its size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n', /chunk data is not followed by CRLF/],
    ['101 for a request that asked for no upgrade', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', /101 Switching Protocols/],
  ];
  for (const [what, wire, message] of cases) {
    it(`refuses ${what}`, () => expect(parseError(wire)).toMatch(message));
  }

  it('bounds the head, and the trailer section', () => {
    const big = `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`;
    expect(parseError(big, { maxHeaderBytes: 1024 })).toMatch(/response head exceeds 1024 bytes/);
    expect(parse(big, { maxHeaderBytes: 4096 }).heads).toHaveLength(1);
    expect(parseError(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: ${'a'.repeat(2000)}\r\n\r\n`, { maxHeaderBytes: 1024 })).toMatch(/exceeds 1024 bytes/);
  });

  it('says a connection closed before or during a response is an error, not an empty answer', () => {
    expect(parseError('', { close: true })).toMatch(/closed before a response/);
    expect(parseError('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', { close: true })).toMatch(/in the middle of a response/);
    expect(parseError('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', { close: true })).toMatch(/in the middle of a response/);
  });
});
