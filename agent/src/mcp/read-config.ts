// Reads one config file the way a root daemon must read files in other people's homes: refuses
// symlinks to files the home's owner does not own, files owned by someone else, binary garbage and
// absurd nesting; streams files over the size limit for the keys that matter; parses JSON, JSONC
// and TOML with libraries.
import { createReadStream } from 'node:fs';
import { lstat, readFile, realpath, stat } from 'node:fs/promises';
import { JSONParser } from '@streamparser/json';
import { parse as parseJsonc, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { parse as parseToml } from 'smol-toml';
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
  /** The uid that must own the file (the home's owner); -1 skips ownership checks (Windows). */
  ownerUid: number;
  sizeLimit: number;
}

export interface CheckedFile {
  /** The file actually read (the symlink's target when the path is a link). */
  realPath: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeMs: number;
  viaSymlink: boolean;
}

/** Stats `file` and applies the ownership rules; undefined when it does not exist. */
export async function checkFile(file: string, access: FileAccess): Promise<CheckedFile | undefined> {
  let l;
  try {
    l = await lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new ConfigReadError('read', `${file}: cannot stat (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let realPath = file;
  let st = l;
  if (l.isSymbolicLink()) {
    try {
      realPath = await realpath(file);
      st = await stat(realPath);
    } catch {
      return undefined; // dangling link: nothing configured there
    }
    if (access.ownerUid >= 0 && st.uid !== access.ownerUid) {
      throw new ConfigReadError(
        'symlink-foreign',
        `${file} is a symbolic link to ${realPath}, owned by uid ${st.uid} and not by the home's owner (uid ${access.ownerUid}); not read and never written`,
      );
    }
  }
  if (!st.isFile()) throw new ConfigReadError('not-a-file', `${file} is not a regular file; not read`);
  if (access.ownerUid >= 0 && st.uid !== access.ownerUid) {
    throw new ConfigReadError('foreign-owner', `${file} is owned by uid ${st.uid}, not by the home's owner (uid ${access.ownerUid}); not read and never written`);
  }
  return { realPath, size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs, viaSymlink: l.isSymbolicLink() };
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

/**
 * Streams a JSON file and keeps only the values at `paths`, rebuilt into a sparse document
 * (`$.a.*.b` yields `{a: {<key>: {b: value}}}`), so memory stays bounded by what matters.
 */
export async function streamJsonPaths(file: string, paths: readonly string[]): Promise<Record<string, unknown>> {
  const doc: Record<string, unknown> = {};
  const parser = new JSONParser({ paths: [...paths], keepStack: false, stringBufferSize: 64 * 1024 });
  parser.onValue = ({ value, key, stack }) => {
    // stack[0] is the root; the path to the value is the keys of stack[1..] followed by `key`.
    const keys = [...stack.slice(1).map((s) => s.key), key].map((k) => String(k));
    let node = doc;
    for (const k of keys.slice(0, -1)) {
      const next = node[k];
      if (typeof next === 'object' && next !== null && !Array.isArray(next)) node = next as Record<string, unknown>;
      else node = node[k] = {};
    }
    node[keys[keys.length - 1]!] = value;
  };
  const input = createReadStream(file, { highWaterMark: 1024 * 1024 });
  try {
    for await (const chunk of input) parser.write(chunk as Buffer);
    if (!parser.isEnded) parser.end();
  } catch (err) {
    input.destroy();
    throw new ConfigReadError('parse', `${file}: not valid JSON while streaming (${(err as Error).message.slice(0, 120)}); the servers last read from it stay in force`);
  }
  return doc;
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
): Promise<ReadDocument | undefined> {
  const checked = await checkFile(file, access);
  if (!checked) return undefined;
  if (checked.size > access.sizeLimit) {
    if (format === 'toml' || !streamPaths || streamPaths.length === 0) {
      throw new ConfigReadError('too-large', `${file} is ${checked.size} bytes, over the ${access.sizeLimit}-byte limit; not read and never written`);
    }
    return { checked, doc: await streamJsonPaths(checked.realPath, streamPaths), streamed: true };
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(checked.realPath);
  } catch (err) {
    throw new ConfigReadError('read', `${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (looksBinary(bytes)) throw new ConfigReadError('binary', `${file} is not text (binary content); not read, the servers last read from it stay in force`);
  return { checked, doc: parseText(file, format, bytes.toString('utf8')), bytes, streamed: false };
}
