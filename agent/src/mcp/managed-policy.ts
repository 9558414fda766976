// What the apps' managed-policy builders share: the server matcher Claude Code and VS Code both
// read, and jsonc editing that keeps an administrator's comments and formatting. Each app's own
// builder lives in its adapter (apps/).
import { applyEdits, modify, parse as parseJsonc, type FormattingOptions, type ParseError } from 'jsonc-parser';
import type { OwnerPolicyInput, ManagedPolicyOutput, PolicyServer } from './app-adapter.ts';
import type { ServerIdentity } from './fingerprint.ts';
import { isRecord } from './normalize.ts';
import { isSecretPathSegment } from './redact.ts';

/** Claude Code's and VS Code's matcher entry (`deniedMcpServers`, `ChatDeniedMcpServers`). */
export type ServerMatcher = { serverCommand: string[] } | { serverUrl: string };

/**
 * The matcher for one identity. A URL carrying credentials (userinfo, query, fragment, or a path
 * segment that reads as a token) is matched by its origin and path with `*` in place of each secret
 * (both apps support `*` wildcards in URLs), so the world-readable policy file never repeats a
 * user's secret. A command line has no wildcard in either app: `serverCommand` is compared exactly,
 * so a stdio server whose arguments carry a secret is not shareable (see `shareableMatcher`).
 */
export function serverMatcher(identity: ServerIdentity): ServerMatcher {
  if (identity.kind === 'stdio') return { serverCommand: [identity.command, ...identity.args] };
  try {
    const u = new URL(identity.url);
    const pathname = u.pathname
      .split('/')
      .map((seg) => (isSecretPathSegment(seg) ? '*' : seg))
      .join('/');
    if (u.search || u.username || u.password || u.hash || pathname !== u.pathname) return { serverUrl: `${u.protocol}//${u.host}${pathname}*` };
  } catch {
    // not a URL: matched as written
  }
  return { serverUrl: identity.url };
}

/** Claude Code and VS Code: a block fits the shared file unless it is a command line carrying a secret. */
export function shareableMatcher(server: PolicyServer): boolean {
  return server.identity.kind === 'remote' || !server.carriesSecret;
}

interface OwnerEntry {
  /** Local fingerprint of the server the entry blocks. */
  server: string;
  /** Keyed hash of the entry's JSON: recognises it in the file without keeping it. */
  entry: string;
}

function ownerEntries(contribution: unknown): OwnerEntry[] {
  if (!isRecord(contribution) || !Array.isArray(contribution.entries)) return [];
  return contribution.entries.filter((e): e is OwnerEntry => isRecord(e) && typeof e.server === 'string' && typeof e.entry === 'string');
}

/**
 * The owner's own settings file with Heimdall's entries in a deny list (`key`, e.g. Claude Code's
 * `deniedMcpServers`): the user's own entries and every other setting are kept (jsonc edits), and
 * Heimdall's entries are recognised by keyed hash. A server restored from the store (its file fails
 * to parse, its secret was never stored) keeps the entry written for it before.
 */
export function buildOwnerDenyList(key: string, { existing, blocked, previousContribution, local }: OwnerPolicyInput): ManagedPolicyOutput {
  const base = existing?.trim() ? existing : '{}';
  const errors: ParseError[] = [];
  const doc = parseJsonc(base, errors) as unknown;
  if (errors.length > 0 || !isRecord(doc)) throw new Error('the settings file does not parse as a JSON object; left as it is');
  const current: unknown[] = isRecord(doc) && Array.isArray(doc[key]) ? doc[key] : [];
  const previous = ownerEntries(previousContribution);
  const ours = new Set(previous.map((p) => p.entry));
  const hashOf = (entry: unknown): string => local.text(JSON.stringify(entry));
  const others = current.filter((e) => !ours.has(hashOf(e)));
  const wanted = new Map<string, { entry: unknown; server: string }>();
  for (const b of blocked) {
    if (b.exact) {
      const entry = serverMatcher(b.identity);
      wanted.set(hashOf(entry), { entry, server: b.localFingerprint });
      continue;
    }
    const kept = new Set(previous.filter((p) => p.server === b.localFingerprint).map((p) => p.entry));
    for (const e of current) if (kept.has(hashOf(e))) wanted.set(hashOf(e), { entry: e, server: b.localFingerprint });
  }
  const next = [...others, ...[...wanted.values()].map((w) => w.entry)];
  const contribution = { entries: [...wanted.entries()].map(([entry, w]) => ({ server: w.server, entry })) };
  const hasKey = isRecord(doc) && key in doc;
  if (next.length === 0 && !hasKey) return { text: existing, contribution };
  let text = applyEdits(base, modify(base, [key], next.length > 0 ? next : undefined, { formattingOptions: JSONC_FORMAT }));
  if (existing === undefined && next.length === 0) return { text: undefined, contribution };
  text = endWithNewline(text);
  return { text, contribution };
}

/** The matchers for `blocked`, without duplicates, in a stable order (the file only changes when the policy does). */
export function deniedMatchers(blocked: readonly ServerIdentity[]): ServerMatcher[] {
  const byKey = new Map(blocked.map(serverMatcher).map((m) => [JSON.stringify(m), m]));
  return [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, m]) => m);
}

export const JSONC_FORMAT: FormattingOptions = { insertSpaces: true, tabSize: 2, eol: '\n' };

export function endWithNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
