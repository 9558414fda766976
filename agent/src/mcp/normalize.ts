// The server-entry shapes several apps share, and the helpers each app adapter uses to turn its
// entries into NormalizedServers, validating entry by entry (zod) so one broken entry is reported
// without hiding its neighbours. Shapes only one app uses live in that app's file (apps/).
import { z } from 'zod';
import type { McpTransport, NormalizedServer } from './types.ts';

/** Heimdall's key in files where it parks quarantined entries (Claude Desktop). Read back as disabled. */
export const QUARANTINE_KEY = 'heimdallQuarantinedMcpServers';

export const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
export const stringMap = z.record(z.string(), scalar);

const commonEntry = z.looseObject({
  type: z.string().optional(),
  transport: z.string().optional(),
  command: z.string().min(1).optional(),
  args: z.array(scalar).optional(),
  env: stringMap.optional(),
  cwd: z.string().optional(),
  url: z.string().min(1).optional(),
  serverUrl: z.string().min(1).optional(),
  httpUrl: z.string().min(1).optional(),
  headers: stringMap.optional(),
  disabled: z.boolean().optional(),
  enabled: z.boolean().optional(),
});

/** A server as it sits in a file, before validation. */
export interface RawEntry {
  name: string;
  value: unknown;
  projectPath?: string;
  /** Found under Heimdall's quarantine key. */
  quarantined?: boolean;
}

export type NormalizeResult = { ok: true; server: NormalizedServer } | { ok: false; message: string };

export type ExtractResult = { ok: true; entries: RawEntry[] } | { ok: false; message: string };

export function describeZodError(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(entry)'}: ${i.message}`).join('; ');
}

export function dropUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The NormalizedServer for `entry`, from the fields an app's own shape yielded. */
export function finishEntry(entry: RawEntry, fields: Omit<NormalizedServer, 'name' | 'projectPath'>): NormalizeResult {
  const server: NormalizedServer = { name: entry.name, ...fields };
  if (entry.projectPath !== undefined) server.projectPath = entry.projectPath;
  if (entry.quarantined) server.enabled = false;
  return { ok: true, server };
}

export interface CommonEntryOptions {
  /** The transport of a bare `url` without `type` (Gemini CLI reads it as SSE; its streamable HTTP key is `httpUrl`). */
  bareUrl: McpTransport;
}

/**
 * The shape most apps share: stdio `command` / `args` / `env` / `cwd`, or a remote `url` /
 * `serverUrl` / `httpUrl` with `type` (or `transport`) and `headers`; `disabled: true` or
 * `enabled: false` turns it off.
 */
export function normalizeCommonEntry(entry: RawEntry, options: CommonEntryOptions = { bareUrl: 'http' }): NormalizeResult {
  const r = commonEntry.safeParse(entry.value);
  if (!r.success) return { ok: false, message: describeZodError(r.error) };
  const v = r.data;
  const enabled = v.disabled !== true && v.enabled !== false;
  if (v.command) {
    return finishEntry(entry, dropUndefined({ transport: 'stdio', command: v.command, args: v.args, env: v.env, cwd: v.cwd, enabled }));
  }
  const url = v.httpUrl ?? v.url ?? v.serverUrl;
  if (url) {
    const transport = remoteTransport(v.type ?? v.transport, v.httpUrl !== undefined, options.bareUrl);
    return finishEntry(entry, dropUndefined({ transport, url, headers: v.headers, enabled }));
  }
  return { ok: false, message: 'neither `command` nor a URL (`url`, `serverUrl`, `httpUrl`) is set' };
}

function remoteTransport(type: string | undefined, viaHttpUrl: boolean, bareUrl: McpTransport): McpTransport {
  if (viaHttpUrl) return 'http';
  const t = (type ?? '').toLowerCase();
  if (t.includes('sse')) return 'sse';
  if (t) return 'http';
  return bareUrl;
}

/** Appends the entries of `container` (an object of NAME: entry) to `out`; a message when it is not an object. */
export function entriesOf(container: unknown, where: string, out: RawEntry[], extra: Partial<RawEntry> = {}): string | undefined {
  if (container === undefined || container === null) return undefined;
  if (!isRecord(container)) return `\`${where}\` is not an object`;
  for (const [name, value] of Object.entries(container)) out.push({ name, value, ...extra });
  return undefined;
}

/** The servers of a document that lists them as `{ KEY: { NAME: entry } }`. */
export function serversUnder(key: string): (doc: unknown) => ExtractResult {
  return (doc) => {
    if (!isRecord(doc)) return { ok: false, message: 'the top level is not an object' };
    const out: RawEntry[] = [];
    const message = entriesOf(doc[key], key, out);
    return message ? { ok: false, message } : { ok: true, entries: out };
  };
}

/**
 * `{ "mcpServers": { NAME: entry } }`, the most common shape, plus the entries Heimdall parked under
 * its quarantine key (read back as disabled, so a quarantined server stays in the inventory).
 */
export function mcpServersOf(doc: unknown): ExtractResult {
  if (!isRecord(doc)) return { ok: false, message: 'the top level is not an object' };
  const out: RawEntry[] = [];
  const message = entriesOf(doc.mcpServers, 'mcpServers', out) ?? entriesOf(doc[QUARANTINE_KEY], QUARANTINE_KEY, out, { quarantined: true });
  return message ? { ok: false, message } : { ok: true, entries: out };
}
