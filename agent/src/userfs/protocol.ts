// The helper's wire format over its stdin/stdout: frames of a 4-byte big-endian length followed by
// that many bytes of UTF-8 JSON. File bytes travel base64-encoded inside the JSON. A frame over
// MAX_FRAME is a protocol error: reads are bounded by the size limit, so no honest frame is larger.
import type { FileInfo, ReadOptions, UserFsErrorCode } from './types.ts';

export const MAX_FRAME = 64 * 1024 * 1024;

export type HelperRequest =
  | { id: number; op: 'read'; anchor: string; rel: string; options: ReadOptions }
  | { id: number; op: 'replace'; anchor: string; rel: string; data: string; mode: number }
  | { id: number; op: 'remove'; anchor: string; rel: string };

export type HelperResult =
  | { kind: 'missing' }
  | { kind: 'bytes'; info: FileInfo; data: string }
  | { kind: 'streamed'; info: FileInfo; doc: Record<string, unknown> }
  | { kind: 'too-large'; info: FileInfo }
  | { kind: 'done' };

export type HelperResponse =
  | { id: number; ok: true; result: HelperResult }
  | { id: number; ok: false; code: UserFsErrorCode; message: string };

export function encodeFrame(message: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  if (body.length > MAX_FRAME) throw new Error(`frame of ${body.length} bytes is over the ${MAX_FRAME}-byte limit`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Collects chunks and yields whole frames' JSON; throws on a frame over the limit or bad JSON. */
export class FrameReader {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): unknown[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: unknown[] = [];
    while (this.#buf.length >= 4) {
      const len = this.#buf.readUInt32BE(0);
      if (len > MAX_FRAME) throw new Error(`frame of ${len} bytes announced, over the ${MAX_FRAME}-byte limit`);
      if (this.#buf.length < 4 + len) break;
      out.push(JSON.parse(this.#buf.subarray(4, 4 + len).toString('utf8')) as unknown);
      this.#buf = this.#buf.subarray(4 + len);
    }
    return out;
  }
}
