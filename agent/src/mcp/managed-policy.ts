// What the apps' managed-policy builders share: the server matcher Claude Code and VS Code both
// read, and jsonc editing that keeps an administrator's comments and formatting. Each app's own
// builder lives in its adapter (apps/).
import type { FormattingOptions } from 'jsonc-parser';
import type { ServerIdentity } from './fingerprint.ts';

/** Claude Code's and VS Code's matcher entry (`deniedMcpServers`, `ChatDeniedMcpServers`). */
export type ServerMatcher = { serverCommand: string[] } | { serverUrl: string };

/**
 * The matcher for one identity. A URL carrying credentials (userinfo or query) is matched by its
 * origin and path followed by `*` (both apps support `*` wildcards), so the world-readable policy
 * file never repeats a user's secret.
 */
export function serverMatcher(identity: ServerIdentity): ServerMatcher {
  if (identity.kind === 'stdio') return { serverCommand: [identity.command, ...identity.args] };
  try {
    const u = new URL(identity.url);
    if (u.search || u.username || u.password || u.hash) return { serverUrl: `${u.protocol}//${u.host}${u.pathname}*` };
  } catch {
    // not a URL: matched as written
  }
  return { serverUrl: identity.url };
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
