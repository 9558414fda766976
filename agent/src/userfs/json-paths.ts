// Streams a JSON document and keeps only the selected values, rebuilt into a sparse document, so
// memory is bounded by what matters and not by the file: a 200 MB ~/.claude.json whose projects
// carry thousands of history entries yields a few kilobytes. Values off the selected paths are
// dropped by the token parser as soon as they complete (keepStack: false).
import { JSONParser, TokenType, type ParsedTokenInfo } from '@streamparser/json';
import { UserFsError, type StreamSelection } from './types.ts';

interface Frame {
  object: boolean;
  key: string | undefined;
  expectKey: boolean;
}

function setAt(doc: Record<string, unknown>, keys: readonly string[], value: unknown, onlyIfAbsent: boolean): void {
  let node = doc;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) node = next as Record<string, unknown>;
    else node = node[k] = {};
  }
  const last = keys[keys.length - 1]!;
  if (onlyIfAbsent && last in node) return;
  node[last] = value;
}

function matches(selector: readonly string[], keys: readonly (string | undefined)[]): boolean {
  return selector.length === keys.length && selector.every((s, i) => s === '*' || s === keys[i]);
}

/** `what` names the file in errors; `source` yields its bytes. */
export async function streamJsonSelection(what: string, source: AsyncIterable<Buffer>, selection: StreamSelection): Promise<Record<string, unknown>> {
  const doc: Record<string, unknown> = {};
  const parser = new JSONParser({ paths: [...selection.paths], keepStack: false, stringBufferSize: 64 * 1024 });
  parser.onValue = ({ value, key, stack }) => {
    // stack[0] is the root; the path to the value is the keys of stack[1..] followed by `key`.
    setAt(doc, [...stack.slice(1).map((s) => s.key), key].map((k) => String(k)), value, false);
  };
  // Keys of the `keys` objects come from the token stream itself, so their values are never built.
  const keySelectors = (selection.keys ?? []).map((k) => k.split('.').slice(1));
  if (keySelectors.length > 0) {
    const frames: Frame[] = [];
    parser.onToken = ({ token, value }: ParsedTokenInfo) => {
      const top = frames[frames.length - 1];
      switch (token) {
        case TokenType.LEFT_BRACE:
          frames.push({ object: true, key: undefined, expectKey: true });
          break;
        case TokenType.LEFT_BRACKET:
          frames.push({ object: false, key: undefined, expectKey: false });
          break;
        case TokenType.RIGHT_BRACE:
        case TokenType.RIGHT_BRACKET:
          frames.pop();
          break;
        case TokenType.COMMA:
          if (top?.object) top.expectKey = true;
          break;
        case TokenType.STRING:
          if (top?.object && top.expectKey) {
            top.key = String(value);
            top.expectKey = false;
            const parents = frames.slice(0, -1).map((f) => (f.object ? f.key : undefined));
            if (keySelectors.some((s) => matches(s, parents))) setAt(doc, [...parents.map(String), top.key], {}, true);
          }
          break;
        default:
          break;
      }
    };
  }
  try {
    for await (const chunk of source) parser.write(chunk);
    if (!parser.isEnded) parser.end();
  } catch (err) {
    throw new UserFsError('parse', `${what}: not valid JSON while streaming (${(err as Error).message.slice(0, 120)}); the servers last read from it stay in force`);
  }
  return doc;
}
