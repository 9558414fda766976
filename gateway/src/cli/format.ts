// Plain-text tables for the CLI's list commands. A table fits the width it is given: short columns
// keep their width, long ones share the rest; a cell too long for its column is cut at a word
// boundary and ends with an ellipsis, or, in a wrapping column, continues on the next lines. `--json`
// is where a whole value is read.

export interface Column {
  header: string;
  /** Wrap long text onto more lines (free text) instead of cutting it (ids, names, emails). */
  wrap?: boolean;
  /** Bounded values (times, statuses, counts) keep their width; the other columns share the rest. */
  fixed?: boolean;
}

export const fixed = (header: string): Column => ({ header, fixed: true });
export const wrapped = (header: string): Column => ({ header, wrap: true });

export type Cell = string | number | boolean | null | undefined;

const GAP = '  ';
const ELLIPSIS = '…';
/** Where a cut or a wrap may fall: after spaces and the separators inside ids, paths and emails. */
const BOUNDARY = /[\s/:@._,=-]/;
/** A cut or wrap looks this far back (as a share of the width) for a boundary before cutting mid-word. */
const LOOK_BACK = 0.5;

function clean(cell: Cell): string {
  if (cell === null || cell === undefined || cell === '') return '-';
  // One line per cell: a newline or tab inside a value would break the table.
  return String(cell).replace(/\s+/g, ' ').trim();
}

/**
 * The end of the longest prefix of `text` no longer than `room` that ends after a boundary or before
 * one matching `before`, or `room` when none is near.
 */
function breakAt(text: string, room: number, before: RegExp): number {
  for (let end = room; end > room * LOOK_BACK; end--) {
    if (before.test(text[end] ?? '') || BOUNDARY.test(text[end - 1]!)) return end;
  }
  return room;
}

export function truncate(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return ELLIPSIS.slice(0, width);
  return `${text.slice(0, breakAt(text, width - 1, BOUNDARY)).trimEnd()}${ELLIPSIS}`;
}

export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width && width > 0) {
    // Words stay whole where a space allows it; a word longer than the line breaks after a separator.
    const space = rest.lastIndexOf(' ', width);
    const end = space > 0 ? space : breakAt(rest, width, /\s/);
    lines.push(rest.slice(0, end).trimEnd());
    rest = rest.slice(end).trimStart();
  }
  lines.push(rest);
  return lines;
}

export type ColumnKind = 'fixed' | 'wrap' | 'cut';

/** What a cut column keeps before a wrapping column takes its share: enough to tell most ids apart. */
const CUT_FLOOR = 12;
/** A wrapping column's share of the room left, and the width it gets when that is smaller. */
const WRAP_SHARE = 0.4;
const WRAP_MIN = 20;

/**
 * Column widths within `available`. Fixed columns keep their natural width; cut columns are kept
 * CUT_FLOOR wide (or narrower when that is all they need); wrapping columns then get a good share
 * (narrow wrapped text is unreadable); the cut columns, narrowest first, take their natural width
 * or a fair share of what is left; what they leave goes to the wrapping ones.
 */
export function fitWidths(natural: readonly number[], minimum: readonly number[], available: number, kinds: readonly ColumnKind[] = []): number[] {
  if (natural.reduce((a, b) => a + b, 0) <= available) return [...natural];
  const kind = (i: number) => kinds[i] ?? 'cut';
  const of = (k: ColumnKind) => natural.map((_, i) => i).filter((i) => kind(i) === k);
  const widths = [...natural];
  const wraps = of('wrap');
  const cuts = of('cut').sort((a, b) => natural[a]! - natural[b]!);
  const floor = (i: number) => Math.max(minimum[i]!, Math.min(natural[i]!, CUT_FLOOR));
  let left = available - of('fixed').reduce((sum, i) => sum + natural[i]!, 0);
  const forWraps = left - cuts.reduce((sum, i) => sum + floor(i), 0);
  for (const column of wraps) {
    const share = Math.min(Math.max(WRAP_MIN, Math.floor((left * WRAP_SHARE) / wraps.length)), Math.floor(forWraps / wraps.length));
    widths[column] = Math.max(minimum[column]!, Math.min(natural[column]!, share));
  }
  left -= wraps.reduce((sum, i) => sum + widths[i]!, 0);
  cuts.forEach((column, k) => {
    const share = Math.floor(left / (cuts.length - k));
    widths[column] = Math.max(minimum[column]!, Math.min(natural[column]!, share));
    left -= widths[column];
  });
  for (const column of wraps) {
    const more = Math.max(0, Math.min(left, natural[column]! - widths[column]!));
    widths[column] = widths[column]! + more;
    left -= more;
  }
  return widths;
}

/** A table of `rows` under `columns`, at most `width` characters wide when the headers allow it (no limit by default). */
export function table(columns: readonly Column[], rows: readonly (readonly Cell[])[], width = Infinity): string {
  const cells = rows.map((row) => columns.map((_, i) => clean(row[i])));
  const headers = columns.map((c) => c.header.toUpperCase());
  const natural = columns.map((_, i) => Math.max(headers[i]!.length, ...cells.map((row) => row[i]!.length)));
  // A header is never cut; a column narrower than a few characters shows nothing useful.
  const minimum = natural.map((n, i) => Math.min(n, Math.max(headers[i]!.length, 4)));
  const kinds = columns.map((c): ColumnKind => (c.fixed ? 'fixed' : c.wrap ? 'wrap' : 'cut'));
  const widths = fitWidths(natural, minimum, width - GAP.length * (columns.length - 1), kinds);
  const render = (row: readonly string[]): string[] => {
    const parts = row.map((cell, i) => (columns[i]!.wrap ? wrap(cell, widths[i]!) : [truncate(cell, widths[i]!)]));
    const height = Math.max(...parts.map((p) => p.length));
    return Array.from({ length: height }, (_, line) =>
      parts
        .map((p, i) => (i === parts.length - 1 ? (p[line] ?? '') : (p[line] ?? '').padEnd(widths[i]!)))
        .join(GAP)
        .trimEnd(),
    );
  };
  return [...render(headers), ...cells.flatMap(render)].join('\n') + '\n';
}

/** The width tables get: the terminal's, or `COLUMNS` when the output is not a terminal, else no limit. */
export function outputWidth(stream: { isTTY?: boolean; columns?: number } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  if (stream.isTTY && stream.columns) return stream.columns;
  const columns = Number(env['COLUMNS']);
  return Number.isInteger(columns) && columns > 0 ? columns : Infinity;
}

/** `2025-01-31T12:00:00.000Z` -> `2025-01-31`: for dates a table can show without the time (`--json` has it). */
export function day(iso: string | null | undefined): string | null {
  return iso ? iso.slice(0, 10) : null;
}

/** `2025-01-31T12:00:00.000Z` -> `2025-01-31 12:00:00`. */
export function when(iso: string | null | undefined): string | null {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '') : null;
}
