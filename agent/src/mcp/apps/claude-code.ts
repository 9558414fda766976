// Claude Code: servers in ~/.claude.json (user, and per project under `projects[path]`), in a
// project's .mcp.json, in plugins, and in the administrator's managed-mcp.json. Blocked through
// its managed settings (`deniedMcpServers`), which users cannot undo.
import { onEveryOs, type McpAppAdapter } from '../app-adapter.ts';
import type { ServerIdentity } from '../fingerprint.ts';
import { buildOwnerDenyList, deniedMatchers, shareableMatcher } from '../managed-policy.ts';
import { entriesOf, isRecord, mcpServersOf, normalizeCommonEntry, type ExtractResult, type RawEntry } from '../normalize.ts';
import { projectKeys } from '../projects.ts';

/** `~/.claude.json`: top-level `mcpServers` plus `projects[path].mcpServers` (project scope). */
function userFileServers(doc: unknown): ExtractResult {
  if (!isRecord(doc)) return { ok: false, message: 'the top level is not an object' };
  const out: RawEntry[] = [];
  const message = entriesOf(doc.mcpServers, 'mcpServers', out);
  if (message) return { ok: false, message };
  if (isRecord(doc.projects)) {
    for (const [projectPath, project] of Object.entries(doc.projects)) {
      if (!isRecord(project)) continue;
      const m = entriesOf(project.mcpServers, `projects["${projectPath}"].mcpServers`, out, { projectPath });
      if (m) return { ok: false, message: m };
    }
  }
  return { ok: true, entries: out };
}

/** `managed-settings.d/heimdall.json`: Heimdall owns the whole drop-in file. */
export function buildClaudeManagedSettings(blocked: readonly ServerIdentity[]): string {
  return `${JSON.stringify({ deniedMcpServers: deniedMatchers(blocked) }, null, 2)}\n`;
}

export const claudeCode: McpAppAdapter = {
  id: 'claude-code',
  configs: [
    { scope: 'user', base: 'home', paths: onEveryOs('.claude.json'), format: 'json', servers: userFileServers, streamPaths: ['$.mcpServers', '$.projects.*.mcpServers'] },
    { scope: 'project', base: 'project', paths: onEveryOs('.mcp.json'), format: 'json', servers: mcpServersOf },
    { scope: 'user', base: 'home', paths: onEveryOs('.claude/plugins/cache/*/*/*/.mcp.json'), format: 'json', servers: mcpServersOf },
    {
      scope: 'managed', base: 'managed',
      paths: {
        darwin: ['Library/Application Support/ClaudeCode/managed-mcp.json'],
        win32: ['Program Files/ClaudeCode/managed-mcp.json', 'ProgramData/ClaudeCode/managed-mcp.json'],
        linux: ['etc/claude-code/managed-mcp.json'],
      },
      format: 'json', servers: mcpServersOf,
    },
  ],
  projectSources: [{ paths: onEveryOs('.claude.json'), format: 'jsonc', streamKeys: ['$.projects'], projects: projectKeys }],
  normalize: (entry) => normalizeCommonEntry(entry),
  enforcement: {
    kind: 'managed-policy',
    // Claude Code merges every file in managed-settings.d/; deny lists are unioned across files.
    place: {
      linux: { file: 'etc/claude-code/managed-settings.d/heimdall.json' },
      darwin: { file: 'Library/Application Support/ClaudeCode/managed-settings.d/heimdall.json' },
      win32: { file: 'Program Files/ClaudeCode/managed-settings.d/heimdall.json' },
    },
    // With nothing blocked, a heimdall.json Heimdall did not write (an administrator's) is left alone.
    build: ({ existing, blocked, writtenBefore }) => ({
      text: blocked.length > 0 ? buildClaudeManagedSettings(blocked.map((b) => b.identity)) : writtenBefore ? undefined : existing,
    }),
    // `serverCommand` is compared exactly and has no wildcard: a command line with a secret in it
    // cannot go into the 0644 drop-in. Claude Code merges `deniedMcpServers` from every settings
    // source, the user's own ~/.claude/settings.json included, so it goes there (0600), where only
    // the user who configured that secret can read it.
    shareable: shareableMatcher,
    ownerPolicy: { path: '.claude/settings.json', build: (input) => buildOwnerDenyList('deniedMcpServers', input) },
  },
};
