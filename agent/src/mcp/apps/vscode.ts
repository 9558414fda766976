// VS Code: servers in the user's mcp.json (and each profile's) and a project's .vscode/mcp.json
// (`servers`). Blocked through the `ChatDeniedMcpServers` policy: a file on Linux, the registry on
// Windows and managed preferences on macOS, where Heimdall produces the artifact for the MDM.
import { applyEdits, modify, parse as parseJsonc } from 'jsonc-parser';
import { onEveryOs, type McpAppAdapter } from '../app-adapter.ts';
import type { ServerIdentity } from '../fingerprint.ts';
import { deniedMatchers, endWithNewline, JSONC_FORMAT, shareableMatcher } from '../managed-policy.ts';
import { isRecord, normalizeCommonEntry, serversUnder } from '../normalize.ts';
import { workspaceFolder } from '../projects.ts';

export const VSCODE_DENIED_POLICY = 'ChatDeniedMcpServers';

/** VS Code takes this policy as a JSON string (array-valued settings travel as strings in policy stores). */
export function vscodeDeniedValue(blocked: readonly ServerIdentity[]): string {
  return JSON.stringify(deniedMatchers(blocked));
}

/** Linux `/etc/vscode/policy.json`: sets or removes `ChatDeniedMcpServers`, keeps other policies. */
export function buildVscodePolicyJson(existing: string | undefined, blocked: readonly ServerIdentity[]): string | undefined {
  const base = existing?.trim() ? existing : '{}';
  const text = applyEdits(base, modify(base, [VSCODE_DENIED_POLICY], blocked.length > 0 ? vscodeDeniedValue(blocked) : undefined, { formattingOptions: JSONC_FORMAT }));
  const doc = parseJsonc(text) as unknown;
  if (existing === undefined && isRecord(doc) && Object.keys(doc).length === 0) return undefined;
  return endWithNewline(text);
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

export const vscode: McpAppAdapter = {
  id: 'vscode',
  configs: [
    {
      scope: 'user', base: 'home',
      paths: {
        darwin: ['Library/Application Support/Code/User/mcp.json', 'Library/Application Support/Code/User/profiles/*/mcp.json'],
        win32: ['AppData/Roaming/Code/User/mcp.json', 'AppData/Roaming/Code/User/profiles/*/mcp.json'],
        linux: ['.config/Code/User/mcp.json', '.config/Code/User/profiles/*/mcp.json'],
      },
      format: 'jsonc', servers: serversUnder('servers'),
    },
    { scope: 'project', base: 'project', paths: onEveryOs('.vscode/mcp.json'), format: 'jsonc', servers: serversUnder('servers') },
  ],
  projectSources: [
    {
      paths: {
        darwin: ['Library/Application Support/Code/User/workspaceStorage/*/workspace.json'],
        win32: ['AppData/Roaming/Code/User/workspaceStorage/*/workspace.json'],
        linux: ['.config/Code/User/workspaceStorage/*/workspace.json'],
      },
      format: 'jsonc', projects: workspaceFolder,
    },
  ],
  normalize: (entry) => normalizeCommonEntry(entry),
  enforcement: {
    kind: 'managed-policy',
    place: {
      linux: { file: 'etc/vscode/policy.json' },
      darwin: { artifact: { detail: 'VS Code reads this policy from managed preferences: deploy the ChatDeniedMcpServers artifact', build: buildVscodeMacPlist } },
      win32: { artifact: { detail: 'VS Code reads this policy from the registry: deploy the ChatDeniedMcpServers artifact', build: buildVscodeWindowsReg } },
    },
    build: ({ existing, blocked }) => ({ text: buildVscodePolicyJson(existing, blocked.map((b) => b.identity)) }),
    // The same exact command matcher as Claude Code, in a file (or registry key, or managed
    // preference) every user reads, and no per-user deny list is known: a command line carrying a
    // secret is reported not enforceable rather than published.
    shareable: shareableMatcher,
  },
};
