// Turns each app's server entry into one NormalizedServer, validating entry by entry (zod) so one
// broken entry is reported without hiding its neighbours.
import { z } from 'zod';
import type { ServerExtractor } from './locations.ts';
import type { McpApp, McpTransport, NormalizedServer } from './types.ts';

/** Heimdall's key in files where it parks quarantined entries (Claude Desktop). Read back as disabled. */
export const QUARANTINE_KEY = 'heimdallQuarantinedMcpServers';

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));
const stringMap = z.record(z.string(), scalar);

const genericEntry = z.looseObject({
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

const codexEntry = z.looseObject({
  command: z.string().min(1).optional(),
  args: z.array(scalar).optional(),
  env: stringMap.optional(),
  cwd: z.string().optional(),
  url: z.string().min(1).optional(),
  http_headers: stringMap.optional(),
  enabled: z.boolean().optional(),
});

const opencodeEntry = z.looseObject({
  type: z.enum(['local', 'remote']).optional(),
  command: z.union([z.array(scalar).min(1), z.string().min(1)]).optional(),
  environment: stringMap.optional(),
  url: z.string().min(1).optional(),
  headers: stringMap.optional(),
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

function remoteTransport(app: McpApp, type: string | undefined, viaHttpUrl: boolean): McpTransport {
  if (viaHttpUrl) return 'http';
  const t = (type ?? '').toLowerCase();
  if (t.includes('sse')) return 'sse';
  if (t) return 'http';
  // Gemini CLI reads a bare `url` as SSE (its streamable HTTP key is `httpUrl`).
  return app === 'gemini-cli' ? 'sse' : 'http';
}

function describe(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(entry)'}: ${i.message}`).join('; ');
}

export function normalizeEntry(app: McpApp, extractor: ServerExtractor, entry: RawEntry): NormalizeResult {
  const base: Pick<NormalizedServer, 'name' | 'projectPath'> = { name: entry.name };
  if (entry.projectPath !== undefined) base.projectPath = entry.projectPath;
  const finish = (s: Omit<NormalizedServer, 'name' | 'projectPath'>): NormalizeResult => {
    const server: NormalizedServer = { ...base, ...s };
    if (entry.quarantined) server.enabled = false;
    return { ok: true, server };
  };

  if (extractor === 'codex-toml') {
    const r = codexEntry.safeParse(entry.value);
    if (!r.success) return { ok: false, message: describe(r.error) };
    const v = r.data;
    const enabled = v.enabled !== false;
    if (v.command) return finish(dropUndefined({ transport: 'stdio', command: v.command, args: v.args, env: v.env, cwd: v.cwd, enabled }));
    if (v.url) return finish(dropUndefined({ transport: 'http', url: v.url, headers: v.http_headers, enabled }));
    return { ok: false, message: 'neither `command` nor `url` is set' };
  }

  if (extractor === 'opencode') {
    const r = opencodeEntry.safeParse(entry.value);
    if (!r.success) return { ok: false, message: describe(r.error) };
    const v = r.data;
    const enabled = v.enabled !== false;
    if (v.command !== undefined && v.type !== 'remote') {
      const argv = typeof v.command === 'string' ? [v.command] : v.command;
      return finish(dropUndefined({ transport: 'stdio', command: argv[0]!, args: argv.slice(1), env: v.environment, enabled }));
    }
    if (v.url) return finish(dropUndefined({ transport: 'http', url: v.url, headers: v.headers, enabled }));
    return { ok: false, message: 'neither `command` nor `url` is set' };
  }

  const r = genericEntry.safeParse(entry.value);
  if (!r.success) return { ok: false, message: describe(r.error) };
  const v = r.data;
  const enabled = v.disabled !== true && v.enabled !== false;
  if (v.command) {
    return finish(dropUndefined({ transport: 'stdio', command: v.command, args: v.args, env: v.env, cwd: v.cwd, enabled }));
  }
  const url = v.httpUrl ?? v.url ?? v.serverUrl;
  if (url) {
    return finish(dropUndefined({ transport: remoteTransport(app, v.type ?? v.transport, v.httpUrl !== undefined), url, headers: v.headers, enabled }));
  }
  return { ok: false, message: 'neither `command` nor a URL (`url`, `serverUrl`, `httpUrl`) is set' };
}

function dropUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export type ExtractResult = { ok: true; entries: RawEntry[] } | { ok: false; message: string };

function entriesOf(container: unknown, where: string, out: RawEntry[], extra: Partial<RawEntry> = {}): string | undefined {
  if (container === undefined || container === null) return undefined;
  if (!isRecord(container)) return `\`${where}\` is not an object`;
  for (const [name, value] of Object.entries(container)) out.push({ name, value, ...extra });
  return undefined;
}

/** The raw server entries of a parsed document, per the location's extractor. */
export function extractEntries(extractor: ServerExtractor, doc: unknown): ExtractResult {
  if (!isRecord(doc)) return { ok: false, message: 'the top level is not an object' };
  const out: RawEntry[] = [];
  const fail = (m: string | undefined): ExtractResult | undefined => (m ? { ok: false, message: m } : undefined);
  switch (extractor) {
    case 'mcpServers': {
      const f = fail(entriesOf(doc.mcpServers, 'mcpServers', out)) ?? fail(entriesOf(doc[QUARANTINE_KEY], QUARANTINE_KEY, out, { quarantined: true }));
      if (f) return f;
      break;
    }
    case 'claude-user-file': {
      const f = fail(entriesOf(doc.mcpServers, 'mcpServers', out));
      if (f) return f;
      if (isRecord(doc.projects)) {
        for (const [projectPath, project] of Object.entries(doc.projects)) {
          if (isRecord(project)) {
            const g = fail(entriesOf(project.mcpServers, `projects["${projectPath}"].mcpServers`, out, { projectPath }));
            if (g) return g;
          }
        }
      }
      break;
    }
    case 'vscode-servers': {
      const f = fail(entriesOf(doc.servers, 'servers', out));
      if (f) return f;
      break;
    }
    case 'codex-toml': {
      const f = fail(entriesOf(doc.mcp_servers, 'mcp_servers', out));
      if (f) return f;
      break;
    }
    case 'opencode': {
      const f = fail(entriesOf(doc.mcp, 'mcp', out));
      if (f) return f;
      break;
    }
  }
  return { ok: true, entries: out };
}
