// Reads one config file the way a root daemon must read files in other people's homes: as the
// home's owner and along a path with no symbolic link (the userfs room does both), refusing files
// owned by someone else, binary garbage and absurd nesting; files over the size limit are streamed
// for the keys that matter; JSON, JSONC and TOML are parsed with libraries.
import path from 'node:path';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
import { UserFsError, type FileInfo, type StreamSelection, type UserFs, type UserFsErrorCode } from '../userfs/index.ts';
import type { ConfigFormat } from './app-adapter.ts';
import type { McpFileErrorCode } from './types.ts';

export const DEFAULT_SIZE_LIMIT = 8 * 1024 * 1024;
/** Deeper than any real config; the apps themselves refuse deeper settings (Claude Code stops at 64). */
export const MAX_NESTING = 64;

export class ConfigReadError extends Error {
  readonly code: McpFileErrorCode;
  constructor(code: McpFileErrorCode, message: string) {
    super(message);
    this.name = 'ConfigReadError';
    this.code = code;
  }
}

export interface FileAccess {
  /** The uid that must own the file (the home's owner); -1 skips ownership checks (Windows, managed files). */
  ownerUid: number;
  sizeLimit: number;
  /** Reads as the home's owner (userfs). */
  fs: UserFs;
  /**
   * The folder the walk starts from (the home, the project folder): it is opened the ordinary way,
   * every component below it without following a symbolic link.
   */
  anchor: string;
}

export interface CheckedFile {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
}

const FROM_USERFS: Record<UserFsErrorCode, McpFileErrorCode> = {
  symlink: 'symlink',
  'not-a-file': 'not-a-file',
  denied: 'read',
  parse: 'parse',
  io: 'read',
  helper: 'read',
};

/** A userfs refusal as the per-file error the inventory reports. */
export function configErrorOf(err: unknown): ConfigReadError {
  if (err instanceof ConfigReadError) return err;
  if (err instanceof UserFsError) return new ConfigReadError(FROM_USERFS[err.code], err.message);
  throw err;
}

/** `file` relative to the anchor; a file outside it is walked from its own folder. */
export function walkFrom(file: string, anchor: string): { anchor: string; rel: string } {
  const rel = path.relative(anchor, file);
  if (anchor && rel && !rel.startsWith('..') && !path.isAbsolute(rel)) return { anchor, rel };
  return { anchor: path.dirname(file), rel: path.basename(file) };
}

function checkOwner(file: string, info: FileInfo, access: FileAccess): void {
  if (access.ownerUid >= 0 && info.uid !== access.ownerUid) {
    throw new ConfigReadError('foreign-owner', `${file} is owned by uid ${info.uid}, not by the home's owner (uid ${access.ownerUid}); not read and never written`);
  }
}

function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Deepest nesting of `{`/`[` outside strings: a linear scan, safe on any input. */
export function jsonNestingDepth(text: string, stopAt = MAX_NESTING + 1): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max >= stopAt) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

function looksBinary(buf: Buffer): boolean {
  const head = buf.subarray(0, 8192);
  if (head.includes(0)) return true;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return false;
  } catch {
    return true;
  }
}

/** Parses text in `format`; throws ConfigReadError with a location, never with file content. */
export function parseText(file: string, format: ConfigFormat, text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (format === 'toml') {
    try {
      return parseToml(body);
    } catch (err) {
      const e = err as { line?: number; column?: number };
      const where = e.line !== undefined ? ` at line ${e.line}, column ${e.column ?? 0}` : '';
      throw new ConfigReadError('parse', `${file}: not valid TOML${where}; the servers last read from it stay in force`);
    }
  }
  if (jsonNestingDepth(body) > MAX_NESTING) {
    throw new ConfigReadError('too-deep', `${file}: nested deeper than ${MAX_NESTING} levels; not read, the servers last read from it stay in force`);
  }
  if (format === 'json') {
    try {
      return JSON.parse(body) as unknown;
    } catch (err) {
      const m = /position (\d+)/.exec(String(err));
      const where = m ? ` at ${lineCol(body, Number(m[1]))}` : '';
      throw new ConfigReadError('parse', `${file}: not valid JSON${where} (half-written?); the servers last read from it stay in force`);
    }
  }
  const errors: ParseError[] = [];
  const doc = parseJsonc(body, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: true }) as unknown;
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new ConfigReadError(
      'parse',
      `${file}: not valid JSON with comments (${printParseErrorCode(first.error)} at ${lineCol(body, first.offset)}); the servers last read from it stay in force`,
    );
  }
  return doc ?? {};
}

export interface ReadDocument {
  checked: CheckedFile;
  doc: unknown;
  /** The exact bytes read (absent when the file was streamed). */
  bytes?: Buffer;
  streamed: boolean;
}

/** Reads and parses `file`; undefined when it does not exist. Throws ConfigReadError. */
export async function readConfigDocument(
  file: string,
  format: ConfigFormat,
  access: FileAccess,
  streamPaths?: readonly string[],
  streamKeys?: readonly string[],
): Promise<ReadDocument | undefined> {
  const where = walkFrom(file, access.anchor);
  const stream: StreamSelection | undefined =
    format !== 'toml' && ((streamPaths?.length ?? 0) > 0 || (streamKeys?.length ?? 0) > 0) ? { paths: streamPaths ?? [], keys: streamKeys ?? [] } : undefined;
  let read;
  try {
    read = await access.fs.read(where.anchor, where.rel, { limit: access.sizeLimit, ...(stream ? { stream } : {}) });
  } catch (err) {
    throw configErrorOf(err);
  }
  if (!read) return undefined;
  checkOwner(file, read.info, access);
  const checked: CheckedFile = { ...read.info };
  if (read.kind === 'too-large') throw new ConfigReadError('too-large', `${file} is ${read.info.size} bytes, over the ${access.sizeLimit}-byte limit; not read and never written`);
  if (read.kind === 'streamed') return { checked, doc: read.doc, streamed: true };
  const bytes = read.bytes;
  if (looksBinary(bytes)) throw new ConfigReadError('binary', `${file} is not text (binary content); not read, the servers last read from it stay in force`);
  return { checked, doc: parseText(file, format, bytes.toString('utf8')), bytes, streamed: false };
}
