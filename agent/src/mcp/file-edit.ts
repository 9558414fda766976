// Enforcement for apps without a managed policy: edit the user's own file, entry by entry, with
// jsonc edits so every other byte (comments, order, spacing) stays as the user wrote it.
import { applyEdits, modify, parse as parseJsonc, type FormattingOptions } from 'jsonc-parser';
import type { EnforcementKind } from './locations.ts';
import { QUARANTINE_KEY } from './normalize.ts';

export type FileEditKind = Exclude<EnforcementKind, 'managed-policy'>;

/** Per entry name, the value Heimdall replaced (`before` absent: the key was not there). */
export type Touched = Record<string, { before?: unknown }>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function formatting(text: string): FormattingOptions {
  const m = /\n([ \t]+)\S/.exec(text);
  const indent = m?.[1] ?? '  ';
  return indent.startsWith('\t') ? { insertSpaces: false, tabSize: 1, eol: '\n' } : { insertSpaces: true, tabSize: indent.length, eol: '\n' };
}

function edit(text: string, pathKeys: (string | number)[], value: unknown): string {
  return applyEdits(text, modify(text, pathKeys, value, { formattingOptions: formatting(text) }));
}

const FLAG: Record<Exclude<FileEditKind, 'quarantine'>, { container: string; key: string; blocked: boolean }> = {
  'disable-flag': { container: 'mcpServers', key: 'disabled', blocked: true },
  'enabled-false': { container: 'mcp', key: 'enabled', blocked: false },
};

/** Applies blocks for `names` to `text`; returns the new text and what was touched. */
export function applyBlocks(kind: FileEditKind, text: string, names: readonly string[]): { text: string; touched: Touched } {
  const doc = parseJsonc(text) as unknown;
  const touched: Touched = {};
  let out = text;
  if (!isRecord(doc)) return { text, touched };
  if (kind === 'quarantine') {
    const servers = isRecord(doc.mcpServers) ? doc.mcpServers : {};
    for (const name of names) {
      if (!(name in servers)) continue;
      out = edit(out, [QUARANTINE_KEY, name], servers[name]);
      out = edit(out, ['mcpServers', name], undefined);
      touched[name] = {};
    }
    return { text: out, touched };
  }
  const { container, key, blocked } = FLAG[kind];
  const servers = isRecord(doc[container]) ? (doc[container]) : {};
  for (const name of names) {
    const entry = servers[name];
    if (!isRecord(entry)) continue;
    touched[name] = key in entry ? { before: entry[key] } : {};
    if (entry[key] !== blocked) out = edit(out, [container, name, key], blocked);
  }
  return { text: out, touched };
}

/** Takes Heimdall's edits out of `text` (the user may have changed other things meanwhile). */
export function undoBlocks(kind: FileEditKind, text: string, touched: Touched): string {
  const doc = parseJsonc(text) as unknown;
  if (!isRecord(doc)) return text;
  let out = text;
  if (kind === 'quarantine') {
    const parked = isRecord(doc[QUARANTINE_KEY]) ? (doc[QUARANTINE_KEY]) : {};
    for (const name of Object.keys(touched)) {
      if (!(name in parked)) continue;
      out = edit(out, ['mcpServers', name], parked[name]);
      out = edit(out, [QUARANTINE_KEY, name], undefined);
    }
    const after = parseJsonc(out) as unknown;
    if (isRecord(after) && isRecord(after[QUARANTINE_KEY]) && Object.keys(after[QUARANTINE_KEY]).length === 0) out = edit(out, [QUARANTINE_KEY], undefined);
    return out;
  }
  const { container, key } = FLAG[kind];
  const servers = isRecord(doc[container]) ? (doc[container]) : {};
  for (const [name, t] of Object.entries(touched)) {
    if (!isRecord(servers[name])) continue;
    out = edit(out, [container, name, key], 'before' in t ? t.before : undefined);
  }
  return out;
}
