// Pure builders for each app's native managed policy, from the servers Heimdall blocks. The files
// are root-owned and machine-wide, so users cannot undo them. Where they live is data (one table).
import { applyEdits, modify, parse as parseJsonc, type FormattingOptions } from 'jsonc-parser';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import type { ServerIdentity } from './fingerprint.ts';
import type { McpApp, Platform } from './types.ts';

export type ManagedPolicyApp = Extract<McpApp, 'claude-code' | 'codex' | 'gemini-cli' | 'vscode'>;

/**
 * Where each app reads its managed policy, relative to the managed root (`/` or `C:\`). `null`: the
 * app has no file Heimdall can write on that OS (VS Code reads the registry / managed preferences:
 * an artifact is produced instead, see buildVscodeWindowsReg / buildVscodeMacPlist).
 */
export const MANAGED_POLICY_PATHS: Readonly<Record<ManagedPolicyApp, Readonly<Record<Platform, string | null>>>> = {
  // Claude Code merges every file in managed-settings.d/; deny lists are unioned across files.
  'claude-code': {
    linux: 'etc/claude-code/managed-settings.d/heimdall.json',
    darwin: 'Library/Application Support/ClaudeCode/managed-settings.d/heimdall.json',
    win32: 'Program Files/ClaudeCode/managed-settings.d/heimdall.json',
  },
  codex: { linux: 'etc/codex/requirements.toml', darwin: 'etc/codex/requirements.toml', win32: null },
  'gemini-cli': {
    linux: 'etc/gemini-cli/settings.json',
    darwin: 'Library/Application Support/GeminiCli/settings.json',
    win32: 'ProgramData/gemini-cli/settings.json',
  },
  vscode: { linux: 'etc/vscode/policy.json', darwin: null, win32: null },
};

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

function uniqueSorted(matchers: ServerMatcher[]): ServerMatcher[] {
  const byKey = new Map(matchers.map((m) => [JSON.stringify(m), m]));
  return [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, m]) => m);
}

/** `managed-settings.d/heimdall.json`: Heimdall owns the whole drop-in file. */
export function buildClaudeManagedSettings(blocked: readonly ServerIdentity[]): string {
  return `${JSON.stringify({ deniedMcpServers: uniqueSorted(blocked.map(serverMatcher)) }, null, 2)}\n`;
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

const FORMAT: FormattingOptions = { insertSpaces: true, tabSize: 2, eol: '\n' };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Gemini CLI system settings: `mcp.excluded` lists server names the CLI will not load (shown as
 * "Blocked" by `gemini mcp list`). Names Heimdall added before and no longer blocks are taken out;
 * names an administrator listed are kept. Comments and formatting elsewhere survive (jsonc edits).
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
  let text = next.length === 0 && !hasList ? base : applyEdits(base, modify(base, ['mcp', 'excluded'], next.length > 0 ? next : undefined, { formattingOptions: FORMAT }));
  const after = parseJsonc(text) as unknown;
  if (isRecord(after) && isRecord(after.mcp) && Object.keys(after.mcp).length === 0) text = applyEdits(text, modify(text, ['mcp'], undefined, { formattingOptions: FORMAT }));
  const final = parseJsonc(text) as unknown;
  if (existing === undefined && isRecord(final) && Object.keys(final).length === 0) return { text: undefined, added };
  return { text: text.endsWith('\n') ? text : `${text}\n`, added };
}

export const VSCODE_DENIED_POLICY = 'ChatDeniedMcpServers';

/** VS Code takes this policy as a JSON string (array-valued settings travel as strings in policy stores). */
export function vscodeDeniedValue(blocked: readonly ServerIdentity[]): string {
  return JSON.stringify(uniqueSorted(blocked.map(serverMatcher)));
}

/** Linux `/etc/vscode/policy.json`: sets or removes `ChatDeniedMcpServers`, keeps other policies. */
export function buildVscodePolicyJson(existing: string | undefined, blocked: readonly ServerIdentity[]): string | undefined {
  const base = existing?.trim() ? existing : '{}';
  const text = applyEdits(base, modify(base, [VSCODE_DENIED_POLICY], blocked.length > 0 ? vscodeDeniedValue(blocked) : undefined, { formattingOptions: FORMAT }));
  const doc = parseJsonc(text) as unknown;
  if (existing === undefined && isRecord(doc) && Object.keys(doc).length === 0) return undefined;
  return text.endsWith('\n') ? text : `${text}\n`;
}

/** Windows: a .reg file for `HKLM\SOFTWARE\Policies\Microsoft\VSCode` (applied with `reg import`). */
export function buildVscodeWindowsReg(blocked: readonly ServerIdentity[]): string {
  const value = vscodeDeniedValue(blocked).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return ['Windows Registry Editor Version 5.00', '', '[HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\VSCode]', `"${VSCODE_DENIED_POLICY}"="${value}"`, ''].join('\r\n');
}

/** macOS: the managed-preferences payload for `com.microsoft.VSCode` (delivered by the MDM profile). */
export async function buildVscodeMacPlist(blocked: readonly ServerIdentity[]): Promise<string> {
  // Loaded on first use: only the macOS artifact needs a plist writer.
  const plist = await import('plist');
  return plist.build({ [VSCODE_DENIED_POLICY]: vscodeDeniedValue(blocked) });
}
