// Checks one source's raw values against the key table. Each problem names the key, the source and
// what was expected, so an admin can fix a managed file from the log line alone.
import { formatLocalTarget, LOCAL_TARGET_FORMS, parseLocalTarget } from '../lib/local-target.ts';
import { isPlainTextToNetwork } from '../lib/loopback-host.ts';
import { CONFIG_KEY_NAMES, CONFIG_KEYS, isConfigKey, type ConfigKey, type HeimdallConfig, type KeyKind, type ListItemKind } from './keys.ts';

export interface ConfigProblem {
  severity: 'error' | 'warning';
  source: string;
  key?: string;
  message: string;
}

export type PartialConfig = Partial<HeimdallConfig>;

/** What a source read produced, before validation. */
export type RawValues = Record<string, unknown>;

// How each source delivers values: JSON and plists have real types; the registry and flags carry
// strings and DWORDs, so ports and booleans arrive as text or 0/1 and are coerced.
export type SourceFlavor = 'typed' | 'registry' | 'text';

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return value instanceof Date ? 'a date' : 'an object';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}

function expectation(type: KeyKind): string {
  switch (type.kind) {
    case 'url':
      return `a URL (${type.schemes.map((s) => s.replace(':', '')).join(', ')})`;
    case 'string':
      return `a string of at most ${type.maxLength} characters`;
    case 'port':
      return 'an integer 1-65535';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return `one of ${type.values.map((v) => `"${v}"`).join(', ')}`;
    case 'list':
      return `a list of at most ${type.maxItems} entries, each ${LIST_ITEMS[type.item].forms}`;
  }
}

type Checked = { ok: true; value: unknown } | { ok: false; item?: string; why?: string };

// One row per list item kind: what an entry looks like, and its parser (the canonical spelling, or
// undefined when the entry is not one).
const LIST_ITEMS: Record<ListItemKind, { forms: string; parse: (entry: string) => string | undefined }> = {
  'local-target': {
    forms: LOCAL_TARGET_FORMS,
    parse: (entry) => {
      const target = parseLocalTarget(entry);
      return target && formatLocalTarget(target);
    },
  },
};

// JSON and plists carry a real array; the registry a REG_MULTI_SZ (or one string); flags and text
// sources a comma-separated string.
function listEntries(raw: unknown, flavor: SourceFlavor): unknown[] | undefined {
  if (Array.isArray(raw)) return raw as unknown[];
  if (typeof raw === 'string' && flavor !== 'typed') return raw.split(',').map((e) => e.trim()).filter((e) => e !== '');
  return undefined;
}

function checkValue(type: KeyKind, raw: unknown, flavor: SourceFlavor): Checked {
  switch (type.kind) {
    case 'url': {
      if (typeof raw !== 'string') return { ok: false };
      try {
        const url = new URL(raw);
        if (!type.schemes.includes(url.protocol)) return { ok: false };
        if (url.protocol !== 'mailto:' && !url.hostname) return { ok: false };
        // The device token and virtual keys travel to it: never in the clear across a network.
        if (type.credentials && isPlainTextToNetwork(url)) return { ok: false, why: 'plain text to a host other than loopback: credentials would cross the network unencrypted; use https://' };
        return { ok: true, value: raw.replace(/\/+$/, '') };
      } catch {
        return { ok: false };
      }
    }
    case 'string':
      return typeof raw === 'string' && raw.length <= type.maxLength && raw.trim() !== '' ? { ok: true, value: raw.trim() } : { ok: false };
    case 'port': {
      let n = raw;
      if (typeof raw === 'string' && flavor !== 'typed' && /^\d{1,5}$/.test(raw)) n = Number(raw);
      return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? { ok: true, value: n } : { ok: false };
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      if (flavor === 'registry' && (raw === 0 || raw === 1)) return { ok: true, value: raw === 1 };
      if (flavor !== 'typed' && typeof raw === 'string') {
        const t = raw.trim().toLowerCase();
        if (['true', 'on', '1', 'yes'].includes(t)) return { ok: true, value: true };
        if (['false', 'off', '0', 'no'].includes(t)) return { ok: true, value: false };
      }
      return { ok: false };
    }
    case 'enum':
      return typeof raw === 'string' && type.values.includes(raw) ? { ok: true, value: raw } : { ok: false };
    case 'list': {
      const entries = listEntries(raw, flavor);
      if (!entries || entries.length > type.maxItems) return { ok: false };
      const parsed: string[] = [];
      for (const entry of entries) {
        const value = typeof entry === 'string' ? LIST_ITEMS[type.item].parse(entry) : undefined;
        if (value === undefined) return { ok: false, item: describeValue(entry) };
        if (!parsed.includes(value)) parsed.push(value);
      }
      return { ok: true, value: parsed };
    }
  }
}

// Edit distance for "did you mean": a misspelt key in a managed file is the most common mistake.
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggestion(name: string): string {
  const best = CONFIG_KEY_NAMES.map((k) => ({ k, d: distance(name.toLowerCase(), k) })).sort((x, y) => x.d - y.d)[0];
  return best && best.d <= 3 ? ` (did you mean "${best.k}"?)` : '';
}

export type KeyCheck = { ok: true; value: unknown } | { ok: false; expected: string; got: string };

/** Checks one value against its key's row: the converted value, or what was expected and what came. */
export function checkKeyValue(key: ConfigKey, raw: unknown, flavor: SourceFlavor): KeyCheck {
  const type = CONFIG_KEYS[key].type;
  const checked = checkValue(type, raw, flavor);
  if (checked.ok) return checked;
  const got = checked.item !== undefined ? `a list with the entry ${checked.item}` : `${describeValue(raw)}${checked.why ? ` (${checked.why})` : ''}`;
  return { ok: false, expected: expectation(type), got };
}

export interface ValidatedSource {
  values: PartialConfig;
  /** Keys present with a wrong value: the caller falls back to the last good value for them. */
  rejected: ConfigKey[];
  problems: ConfigProblem[];
}

/** Validates every key of one source independently: one bad key never hides the good ones. */
export function validateSource(source: string, raw: RawValues, flavor: SourceFlavor, ignoredKey: (name: string) => boolean = () => false): ValidatedSource {
  const values: Record<string, unknown> = {};
  const rejected: ConfigKey[] = [];
  const problems: ConfigProblem[] = [];
  for (const [name, rawValue] of Object.entries(raw)) {
    if (ignoredKey(name)) continue;
    if (!isConfigKey(name)) {
      problems.push({ severity: 'warning', source, key: name, message: `config key "${name}" in ${source} is not a known setting; ignoring it${suggestion(name)}` });
      continue;
    }
    const checked = checkKeyValue(name, rawValue, flavor);
    if (checked.ok) {
      values[name] = checked.value;
    } else {
      rejected.push(name);
      problems.push({ severity: 'error', source, key: name, message: `config key "${name}" in ${source}: expected ${checked.expected}, got ${checked.got}` });
    }
  }
  return { values: values, rejected, problems };
}
