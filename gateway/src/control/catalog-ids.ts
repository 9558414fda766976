// Which ids a decision or a routing setting may name: an app the agents identify by name (their
// built-in catalog) or an item some agent reported. Anything else is a typo that no agent would ever
// match, so it is refused with the ids that are accepted instead of becoming a catalog entry.
import { KNOWN_APP_IDS } from '../../../protocol/index.ts';
import type { CatalogKind } from '../store/index.ts';

/** The app ids every agent can report, reported or not yet. */
export const BUILT_IN_APP_IDS: readonly string[] = KNOWN_APP_IDS;

/** Reported ids shown in a refusal; the rest are counted (a fleet can report thousands). */
const REPORTED_SHOWN = 20;

const WORDS: Record<CatalogKind, { noun: string; list: string }> = {
  app: { noun: 'app', list: 'apps list (GET /admin/v1/apps)' },
  mcp: { noun: 'MCP server', list: 'mcp list (GET /admin/v1/mcp-servers)' },
};

function reportedText(reported: readonly string[], list: string): string {
  if (reported.length === 0) return 'none yet';
  const shown = reported.slice(0, REPORTED_SHOWN).join(', ');
  return `${reported.length > REPORTED_SHOWN ? `${shown} and ${reported.length - REPORTED_SHOWN} more` : shown}; ${list} shows them`;
}

/** The sentence refusing `id`, naming it and the accepted ids. `reported` are the catalog's ids. */
export function unknownIdMessage(kind: CatalogKind, id: string, reported: readonly string[]): string {
  const { noun, list } = WORDS[kind];
  if (kind === 'mcp') {
    return `no ${noun} ${JSON.stringify(id)} in the catalog; accepted: the fingerprints agents reported (${reportedText(reported, list)})`;
  }
  const others = reported.filter((r) => !BUILT_IN_APP_IDS.includes(r));
  return `no ${noun} ${JSON.stringify(id)} in the catalog; accepted: the apps agents know by name (${BUILT_IN_APP_IDS.join(', ')}) and the apps agents reported (${reportedText(others, list)})`;
}
