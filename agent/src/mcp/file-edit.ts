// Enforcement for apps without a managed policy: edit the user's own file, entry by entry, with
// jsonc edits so every other byte (comments, order, spacing) stays as the user wrote it. Two ways
// exist today, each a FileEdit an app adapter picks: set a flag on the entry, or move the entry
// under a quarantine key the app does not read.
import { applyEdits, modify, parse as parseJsonc, type FormattingOptions } from 'jsonc-parser';
import { isRecord, QUARANTINE_KEY } from './normalize.ts';

/** Per entry name, the value Heimdall replaced (`before` absent: the key was not there). */
export type Touched = Record<string, { before?: unknown }>;

export interface FileEdit {
  /** The audit action and the word for a block (`entry-disabled` / `disabled`). */
  action: 'entry-disabled' | 'entry-quarantined';
  word: 'disabled' | 'quarantined';
  /** Applies blocks for `names` to `text`; returns the new text and what was touched. */
  apply: (text: string, names: readonly string[]) => { text: string; touched: Touched };
  /** Takes Heimdall's edits out of `text` (the user may have changed other things meanwhile). */
  undo: (text: string, touched: Touched) => string;
}

function formatting(text: string): FormattingOptions {
  const m = /\n([ \t]+)\S/.exec(text);
  const indent = m?.[1] ?? '  ';
  return indent.startsWith('\t') ? { insertSpaces: false, tabSize: 1, eol: '\n' } : { insertSpaces: true, tabSize: indent.length, eol: '\n' };
}

function edit(text: string, pathKeys: (string | number)[], value: unknown): string {
  return applyEdits(text, modify(text, pathKeys, value, { formattingOptions: formatting(text) }));
}

/** Sets `<container>.<name>.<key>` to `blocked` (Cursor, Windsurf: `disabled: true`; OpenCode: `enabled: false`). */
export function flagEdit(container: string, key: string, blocked: boolean): FileEdit {
  return {
    action: 'entry-disabled',
    word: 'disabled',
    apply(text, names) {
      const doc = parseJsonc(text) as unknown;
      const touched: Touched = {};
      let out = text;
      if (!isRecord(doc)) return { text, touched };
      const servers = isRecord(doc[container]) ? doc[container] : {};
      for (const name of names) {
        const entry = servers[name];
        if (!isRecord(entry)) continue;
        touched[name] = key in entry ? { before: entry[key] } : {};
        if (entry[key] !== blocked) out = edit(out, [container, name, key], blocked);
      }
      return { text: out, touched };
    },
    undo(text, touched) {
      const doc = parseJsonc(text) as unknown;
      if (!isRecord(doc)) return text;
      let out = text;
      const servers = isRecord(doc[container]) ? doc[container] : {};
      for (const [name, t] of Object.entries(touched)) {
        if (!isRecord(servers[name])) continue;
        out = edit(out, [container, name, key], 'before' in t ? t.before : undefined);
      }
      return out;
    },
  };
}

/** Moves `mcpServers.<name>` under Heimdall's quarantine key, for an app with no per-entry switch (Claude Desktop). */
export const quarantineEdit: FileEdit = {
  action: 'entry-quarantined',
  word: 'quarantined',
  apply(text, names) {
    const doc = parseJsonc(text) as unknown;
    const touched: Touched = {};
    let out = text;
    if (!isRecord(doc)) return { text, touched };
    const servers = isRecord(doc.mcpServers) ? doc.mcpServers : {};
    for (const name of names) {
      if (!(name in servers)) continue;
      out = edit(out, [QUARANTINE_KEY, name], servers[name]);
      out = edit(out, ['mcpServers', name], undefined);
      touched[name] = {};
    }
    return { text: out, touched };
  },
  undo(text, touched) {
    const doc = parseJsonc(text) as unknown;
    if (!isRecord(doc)) return text;
    let out = text;
    const parked = isRecord(doc[QUARANTINE_KEY]) ? doc[QUARANTINE_KEY] : {};
    for (const name of Object.keys(touched)) {
      if (!(name in parked)) continue;
      out = edit(out, ['mcpServers', name], parked[name]);
      out = edit(out, [QUARANTINE_KEY, name], undefined);
    }
    const after = parseJsonc(out) as unknown;
    if (isRecord(after) && isRecord(after[QUARANTINE_KEY]) && Object.keys(after[QUARANTINE_KEY]).length === 0) out = edit(out, [QUARANTINE_KEY], undefined);
    return out;
  },
};
