// The CLI's tables: they fit the width they are given, cut ids and names at a word with an
// ellipsis, wrap free text at spaces, and never let one long value push the other columns around.
import { describe, expect, it } from 'vitest';
import { day, fitWidths, fixed, outputWidth, table, truncate, when, wrap, wrapped } from '../../gateway/src/cli/format.ts';

describe('truncate', () => {
  it('keeps a value that fits, untouched', () => {
    expect(truncate('cursor', 6)).toBe('cursor');
  });

  it('cuts next to a separator and ends with an ellipsis', () => {
    expect(truncate('alice.smith@example.com', 12)).toBe('alice.smith…');
    expect(truncate('alice.smith@example.com', 16)).toBe('alice.smith@…');
    expect(truncate('the shared workstation', 15)).toBe('the shared…');
  });

  it('cuts mid-word only when no separator is near, still with the ellipsis', () => {
    expect(truncate('vk_Hx3k9aZ0LmQ2', 8)).toBe('vk_Hx3k…');
    expect(truncate('abcdef', 1)).toBe('…');
  });
});

describe('wrap', () => {
  it('wraps at spaces, and long words after a separator', () => {
    expect(wrap('route=openai-api status=200 model=gpt-4o-mini', 20)).toEqual(['route=openai-api', 'status=200', 'model=gpt-4o-mini']);
    expect(wrap('alice.smith@example.com:approved', 14)).toEqual(['alice.smith@', 'example.com:', 'approved']);
  });
});

describe('fitWidths', () => {
  it('keeps every natural width when they fit', () => {
    expect(fitWidths([5, 10, 20], [2, 2, 2], 40)).toEqual([5, 10, 20]);
  });

  it('keeps fixed columns whole and shares the rest, narrowest first', () => {
    // 40 available: the fixed 19 stays; 21 left for 4, 30 and 30 -> 4, then 8 and 9.
    expect(fitWidths([19, 4, 30, 30], [5, 4, 5, 5], 40, ['fixed', 'cut', 'cut', 'cut'])).toEqual([19, 4, 8, 9]);
  });

  it('gives a wrapping column a good share once the cut columns have their floor, and what they leave', () => {
    // 60 available: the wrapping column takes max(20, 40% of 60) = 24; 36 left for 10 and 50 -> 10 and 26.
    expect(fitWidths([10, 50, 200], [4, 4, 4], 60, ['cut', 'cut', 'wrap'])).toEqual([10, 26, 24]);
    // The cut columns need little: the wrapping column gets the rest.
    expect(fitWidths([3, 5, 200], [3, 4, 4], 60, ['cut', 'cut', 'wrap'])).toEqual([3, 5, 52]);
    // Little room (40): the cut columns are sure of 6 and 12; the wrapping column takes its 20; the cut ones share the other 20.
    expect(fitWidths([6, 40, 200], [4, 4, 15], 40, ['cut', 'cut', 'wrap'])).toEqual([6, 14, 20]);
    // Less room (30): the wrapping column gets what the cut columns' floor leaves (12), above its header's 10.
    expect(fitWidths([6, 40, 200], [4, 4, 10], 30, ['cut', 'cut', 'wrap'])).toEqual([6, 12, 12]);
  });
});

describe('table', () => {
  const columns = [{ header: 'id' }, { header: 'user' }, fixed('status'), wrapped('details')];
  const rows = [
    ['exe:0123456789abcdef', 'alexandra.konstantinopoulou@research.example.com', 'approved', 'route=openai-api status=200 model=gpt-4o-mini bytes_out=1234'],
    ['cursor', null, 'denied', ''],
  ];

  it('prints every value whole when no width is given', () => {
    const out = table(columns, rows);
    expect(out).toContain('alexandra.konstantinopoulou@research.example.com');
    expect(out.split('\n')[0]).toMatch(/^ID {2,}USER {2,}STATUS {2,}DETAILS$/);
    // Empty cells read as "-".
    expect(out.split('\n')[2]).toMatch(/^cursor +- +denied +-$/);
  });

  it('stays within the width, columns aligned, cut cells ending with an ellipsis', () => {
    const out = table(columns, rows, 60);
    const lines = out.trimEnd().split('\n');
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(60);
    const statusAt = lines[0]!.indexOf('STATUS');
    expect(lines[1]!.slice(statusAt)).toMatch(/^approved /);
    expect(lines[1]).toMatch(/ alexandra\.…|alexandra…/);
    // The details continue below, in their own column.
    const detailsAt = lines[0]!.indexOf('DETAILS');
    const details = lines.slice(1, -1).map((l) => l.slice(detailsAt).trim());
    expect(details.length).toBeGreaterThan(1);
    expect(details.join('')).toBe('route=openai-api status=200 model=gpt-4o-mini bytes_out=1234'.replaceAll(' ', ''));
    expect(lines.at(-1)).toMatch(/^cursor /);
  });

  it('keeps a newline inside a value from breaking its row', () => {
    const out = table([{ header: 'name' }, { header: 'x' }], [['two\nlines', 'y']]);
    expect(out).toBe('NAME       X\ntwo lines  y\n');
  });
});

describe('times', () => {
  it('shows a date and time to the second, or the day alone', () => {
    expect(when('2025-01-31T12:00:09.123Z')).toBe('2025-01-31 12:00:09');
    expect(day('2025-01-31T12:00:09.123Z')).toBe('2025-01-31');
    expect(day(null)).toBeNull();
  });
});

describe('outputWidth', () => {
  it("takes a terminal's width, COLUMNS when piped, and no limit otherwise", () => {
    expect(outputWidth({ isTTY: true, columns: 90 }, { COLUMNS: '200' })).toBe(90);
    expect(outputWidth({ isTTY: false }, { COLUMNS: '120' })).toBe(120);
    expect(outputWidth({ isTTY: false }, { COLUMNS: 'wide' })).toBe(Infinity);
    expect(outputWidth({}, {})).toBe(Infinity);
  });
});
