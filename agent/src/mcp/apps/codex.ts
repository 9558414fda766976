// Codex: servers in ~/.codex/config.toml and a project's .codex/config.toml (`[mcp_servers.NAME]`).
// Blocked through the machine's requirements.toml, which can only express an allow list.
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { z } from 'zod';
import { onEveryOs, type McpAppAdapter, type PolicyServer } from '../app-adapter.ts';
import { carriesSecret } from '../fingerprint.ts';
import { describeZodError, dropUndefined, finishEntry, scalar, serversUnder, stringMap, type NormalizeResult, type RawEntry } from '../normalize.ts';
import { projectKeys } from '../projects.ts';

const codexEntry = z.looseObject({
  command: z.string().min(1).optional(),
  args: z.array(scalar).optional(),
  env: stringMap.optional(),
  cwd: z.string().optional(),
  url: z.string().min(1).optional(),
  http_headers: stringMap.optional(),
  enabled: z.boolean().optional(),
});

function normalizeCodexEntry(entry: RawEntry): NormalizeResult {
  const r = codexEntry.safeParse(entry.value);
  if (!r.success) return { ok: false, message: describeZodError(r.error) };
  const v = r.data;
  const enabled = v.enabled !== false;
  if (v.command) return finishEntry(entry, dropUndefined({ transport: 'stdio', command: v.command, args: v.args, env: v.env, cwd: v.cwd, enabled }));
  if (v.url) return finishEntry(entry, dropUndefined({ transport: 'http', url: v.url, headers: v.http_headers, enabled }));
  return { ok: false, message: 'neither `command` nor `url` is set' };
}

export interface CodexAllowedServer {
  name: string;
  /** As configured (Codex compares its requirement with the configured command / URL). */
  identity: { command: string } | { url: string };
}

export interface CodexRequirementsResult {
  text: string | undefined;
  /** Names allowed with two different identities: only the first is expressible. */
  conflicts: string[];
}

/**
 * Codex `requirements.toml` expresses MCP policy as an allow list of `[mcp_servers.NAME.identity]`
 * (command or URL; arguments are not compared): any configured server not listed is disabled with
 * "disabled: requirements". So a block is compiled as "allow every other known server". Other keys
 * an administrator put in the file are kept; `undefined` text means "nothing left, remove the file".
 */
export function buildCodexRequirements(existing: string | undefined, allowed: readonly CodexAllowedServer[], anyBlocked: boolean): CodexRequirementsResult {
  const doc = existing ? (parseToml(existing) as Record<string, unknown>) : {};
  delete doc.mcp_servers;
  const conflicts: string[] = [];
  if (anyBlocked) {
    const table: Record<string, { identity: CodexAllowedServer['identity'] }> = {};
    for (const s of [...allowed].sort((a, b) => a.name.localeCompare(b.name))) {
      const prev = table[s.name];
      if (prev && JSON.stringify(prev.identity) !== JSON.stringify(s.identity)) {
        if (!conflicts.includes(s.name)) conflicts.push(s.name);
        continue;
      }
      table[s.name] = { identity: s.identity };
    }
    doc.mcp_servers = table;
  }
  if (Object.keys(doc).length === 0) return { text: undefined, conflicts };
  return { text: `# Managed in part by Heimdall: [mcp_servers] is rewritten from the organization's MCP policy.\n${stringifyToml(doc)}\n`, conflicts };
}

/** What the allow list would write for this server (its command, or its URL) holds no secret and is exact. */
function codexIdentityIsPublic(s: PolicyServer): boolean {
  if (!s.exact) return false;
  if (s.server.transport === 'stdio') return !carriesSecret({ kind: 'stdio', command: s.server.command ?? '', args: [] });
  return !carriesSecret({ kind: 'remote', url: s.server.url ?? '' });
}

export const codex: McpAppAdapter = {
  id: 'codex',
  configs: [
    { scope: 'user', base: 'home', paths: onEveryOs('.codex/config.toml'), format: 'toml', servers: serversUnder('mcp_servers') },
    { scope: 'project', base: 'project', paths: onEveryOs('.codex/config.toml'), format: 'toml', servers: serversUnder('mcp_servers') },
  ],
  projectSources: [{ paths: onEveryOs('.codex/config.toml'), format: 'toml', projects: projectKeys }],
  normalize: normalizeCodexEntry,
  enforcement: {
    kind: 'managed-policy',
    place: { linux: { file: 'etc/codex/requirements.toml' }, darwin: { file: 'etc/codex/requirements.toml' }, win32: null },
    build: ({ existing, servers, blocked }) => {
      const others = servers.filter((s) => !blocked.includes(s));
      // The allow list names each allowed server's command or URL in a file every user reads: one
      // whose command or URL carries a secret is left out (Codex then disables it too) and named in
      // the note, rather than published.
      const unlisted = others.filter((s) => !codexIdentityIsPublic(s));
      const allowed: CodexAllowedServer[] = others
        .filter((s) => codexIdentityIsPublic(s))
        .map((s) => ({ name: s.server.name, identity: s.server.transport === 'stdio' ? { command: s.server.command ?? '' } : { url: s.server.url ?? '' } }));
      const built = buildCodexRequirements(existing, allowed, blocked.length > 0);
      const notes = [
        ...(built.conflicts.length > 0 ? [`names allowed with two identities, only one expressible: ${built.conflicts.join(', ')}`] : []),
        ...(blocked.length > 0 && unlisted.length > 0 ? [`allowed but not listed, their command or URL carries a secret: ${[...new Set(unlisted.map((s) => s.server.name))].join(', ')}`] : []),
      ];
      return notes.length > 0 ? { text: built.text, note: notes.join('; ') } : { text: built.text };
    },
  },
};
