// Gemini CLI: servers in ~/.gemini/settings.json and a project's .gemini/settings.json. Blocked by
// name through the system settings' `mcp.excluded` (shown as "Blocked" by `gemini mcp list`).
import { applyEdits, modify, parse as parseJsonc } from 'jsonc-parser';
import { onEveryOs, type McpAppAdapter } from '../app-adapter.ts';
import { endWithNewline, JSONC_FORMAT } from '../managed-policy.ts';
import { isRecord, mcpServersOf, normalizeCommonEntry } from '../normalize.ts';

/** Keys of `~/.gemini/trustedFolders.json` not marked DO_NOT_TRUST. */
function trustedFolders(doc: unknown): string[] {
  if (!isRecord(doc)) return [];
  return Object.entries(doc)
    .filter(([, v]) => v !== 'DO_NOT_TRUST')
    .map(([k]) => k);
}

/**
 * Gemini CLI system settings: `mcp.excluded` lists server names the CLI will not load. Names
 * Heimdall added before and no longer blocks are taken out; names an administrator listed are kept.
 * Comments and formatting elsewhere survive (jsonc edits).
 */
export function buildGeminiSystemSettings(existing: string | undefined, excluded: readonly string[], previouslyAdded: readonly string[]): { text: string | undefined; added: string[] } {
  // An empty file is an empty document to the CLI too; jsonc cannot edit zero bytes.
  const base = existing?.trim() ? existing : '{}';
  const doc = parseJsonc(base) as unknown;
  const current = isRecord(doc) && isRecord(doc.mcp) && Array.isArray(doc.mcp.excluded) ? doc.mcp.excluded.filter((x): x is string => typeof x === 'string') : [];
  const adminOwned = current.filter((n) => !previouslyAdded.includes(n));
  const added = [...new Set(excluded)].filter((n) => !adminOwned.includes(n)).sort();
  const next = [...adminOwned, ...added];
  const hasList = isRecord(doc) && isRecord(doc.mcp) && 'excluded' in doc.mcp;
  // jsonc-parser refuses to delete a path that is not there; with nothing to exclude and no list, keep the text.
  let text = next.length === 0 && !hasList ? base : applyEdits(base, modify(base, ['mcp', 'excluded'], next.length > 0 ? next : undefined, { formattingOptions: JSONC_FORMAT }));
  const after = parseJsonc(text) as unknown;
  if (isRecord(after) && isRecord(after.mcp) && Object.keys(after.mcp).length === 0) text = applyEdits(text, modify(text, ['mcp'], undefined, { formattingOptions: JSONC_FORMAT }));
  const final = parseJsonc(text) as unknown;
  if (existing === undefined && isRecord(final) && Object.keys(final).length === 0) return { text: undefined, added };
  return { text: endWithNewline(text), added };
}

export const geminiCli: McpAppAdapter = {
  id: 'gemini-cli',
  configs: [
    { scope: 'user', base: 'home', paths: onEveryOs('.gemini/settings.json'), format: 'jsonc', servers: mcpServersOf },
    { scope: 'project', base: 'project', paths: onEveryOs('.gemini/settings.json'), format: 'jsonc', servers: mcpServersOf },
  ],
  projectSources: [{ paths: onEveryOs('.gemini/trustedFolders.json'), format: 'jsonc', projects: trustedFolders }],
  // Gemini CLI reads a bare `url` as SSE (its streamable HTTP key is `httpUrl`).
  normalize: (entry) => normalizeCommonEntry(entry, { bareUrl: 'sse' }),
  enforcement: {
    kind: 'managed-policy',
    place: {
      linux: { file: 'etc/gemini-cli/settings.json' },
      darwin: { file: 'Library/Application Support/GeminiCli/settings.json' },
      win32: { file: 'ProgramData/gemini-cli/settings.json' },
    },
    build: ({ existing, blocked, previousContribution }) => {
      const previous = Array.isArray(previousContribution) ? (previousContribution as string[]) : [];
      const built = buildGeminiSystemSettings(existing, blocked.map((b) => b.server.name), previous);
      return { text: built.text, contribution: built.added, note: 'Gemini CLI excludes by server name' };
    },
  },
};
