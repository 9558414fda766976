// Where each supported app keeps its MCP servers, per OS and scope, and where it keeps the project
// folders it knows about. Data, not code: adding an app is adding rows here (and tests).
import type { McpApp, McpScope, Platform } from './types.ts';

/** Which part of a parsed file lists the servers, and in which shape. */
export type ServerExtractor =
  /** `{ "mcpServers": { NAME: entry } }` (Claude Desktop also reads Heimdall's quarantine key). */
  | 'mcpServers'
  /** `~/.claude.json`: top-level `mcpServers` plus `projects[path].mcpServers`. */
  | 'claude-user-file'
  /** VS Code `mcp.json`: `{ "servers": { NAME: entry } }`. */
  | 'vscode-servers'
  /** Codex TOML: `[mcp_servers.NAME]`. */
  | 'codex-toml'
  /** OpenCode: `{ "mcp": { NAME: { type: local|remote, command: [...], url } } }`. */
  | 'opencode';

/** How a block decision is carried out for servers found in this file. */
export type EnforcementKind =
  /** The app's machine-wide managed policy (root-owned, users cannot undo it). */
  | 'managed-policy'
  /** Set `disabled: true` on the entry in the user's file (Cursor, Windsurf). */
  | 'disable-flag'
  /** Set `enabled: false` on the entry (OpenCode). */
  | 'enabled-false'
  /** Move the entry under a quarantine key the app does not read (Claude Desktop). */
  | 'quarantine';

export type ConfigFormat = 'json' | 'jsonc' | 'toml';

/**
 * Paths are relative and `/`-separated: to the user's home (`base: 'home'`), to a project folder
 * (`base: 'project'`), or to the managed root (`base: 'managed'`, absolute on the real machine).
 * A segment that is exactly `*` matches every entry of that folder (profiles, plugin caches).
 */
export interface ConfigLocation {
  app: McpApp;
  scope: McpScope;
  base: 'home' | 'project' | 'managed';
  paths: Readonly<Record<Platform, readonly string[]>>;
  format: ConfigFormat;
  extractor: ServerExtractor;
  enforcement: EnforcementKind;
  /**
   * JSON paths (in `@streamparser/json` syntax) that hold servers, read by streaming when the file
   * is over the size limit. Absent: a file over the limit is reported and not read.
   */
  streamPaths?: readonly string[];
}

const same = (...p: string[]): Readonly<Record<Platform, readonly string[]>> => ({ darwin: p, win32: p, linux: p });

const VSCODE_USER = {
  darwin: ['Library/Application Support/Code/User/mcp.json', 'Library/Application Support/Code/User/profiles/*/mcp.json'],
  win32: ['AppData/Roaming/Code/User/mcp.json', 'AppData/Roaming/Code/User/profiles/*/mcp.json'],
  linux: ['.config/Code/User/mcp.json', '.config/Code/User/profiles/*/mcp.json'],
} as const;

export const CONFIG_LOCATIONS = [
  // Claude Code
  {
    app: 'claude-code', scope: 'user', base: 'home', paths: same('.claude.json'), format: 'json', extractor: 'claude-user-file',
    enforcement: 'managed-policy', streamPaths: ['$.mcpServers', '$.projects.*.mcpServers'],
  },
  { app: 'claude-code', scope: 'project', base: 'project', paths: same('.mcp.json'), format: 'json', extractor: 'mcpServers', enforcement: 'managed-policy' },
  {
    app: 'claude-code', scope: 'user', base: 'home', paths: same('.claude/plugins/cache/*/*/*/.mcp.json'), format: 'json', extractor: 'mcpServers',
    enforcement: 'managed-policy',
  },
  {
    app: 'claude-code', scope: 'managed', base: 'managed',
    paths: {
      darwin: ['Library/Application Support/ClaudeCode/managed-mcp.json'],
      win32: ['Program Files/ClaudeCode/managed-mcp.json', 'ProgramData/ClaudeCode/managed-mcp.json'],
      linux: ['etc/claude-code/managed-mcp.json'],
    },
    format: 'json', extractor: 'mcpServers', enforcement: 'managed-policy',
  },
  // Claude Desktop (no per-server policy: entries are quarantined in the user's file)
  {
    app: 'claude-desktop', scope: 'user', base: 'home',
    paths: {
      darwin: ['Library/Application Support/Claude/claude_desktop_config.json'],
      win32: [
        'AppData/Roaming/Claude/claude_desktop_config.json',
        // The Microsoft Store (MSIX) build keeps its roaming data in the package's virtualised folder.
        'AppData/Local/Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/claude_desktop_config.json',
      ],
      linux: ['.config/Claude/claude_desktop_config.json'],
    },
    format: 'json', extractor: 'mcpServers', enforcement: 'quarantine',
  },
  // Cursor
  { app: 'cursor', scope: 'user', base: 'home', paths: same('.cursor/mcp.json'), format: 'jsonc', extractor: 'mcpServers', enforcement: 'disable-flag' },
  { app: 'cursor', scope: 'project', base: 'project', paths: same('.cursor/mcp.json'), format: 'jsonc', extractor: 'mcpServers', enforcement: 'disable-flag' },
  // VS Code
  { app: 'vscode', scope: 'user', base: 'home', paths: VSCODE_USER, format: 'jsonc', extractor: 'vscode-servers', enforcement: 'managed-policy' },
  { app: 'vscode', scope: 'project', base: 'project', paths: same('.vscode/mcp.json'), format: 'jsonc', extractor: 'vscode-servers', enforcement: 'managed-policy' },
  // Codex
  { app: 'codex', scope: 'user', base: 'home', paths: same('.codex/config.toml'), format: 'toml', extractor: 'codex-toml', enforcement: 'managed-policy' },
  { app: 'codex', scope: 'project', base: 'project', paths: same('.codex/config.toml'), format: 'toml', extractor: 'codex-toml', enforcement: 'managed-policy' },
  // Gemini CLI
  { app: 'gemini-cli', scope: 'user', base: 'home', paths: same('.gemini/settings.json'), format: 'jsonc', extractor: 'mcpServers', enforcement: 'managed-policy' },
  { app: 'gemini-cli', scope: 'project', base: 'project', paths: same('.gemini/settings.json'), format: 'jsonc', extractor: 'mcpServers', enforcement: 'managed-policy' },
  // Windsurf
  {
    app: 'windsurf', scope: 'user', base: 'home', paths: same('.codeium/windsurf/mcp_config.json'), format: 'jsonc', extractor: 'mcpServers',
    enforcement: 'disable-flag',
  },
  // OpenCode (reads ~/.config/opencode on every OS)
  {
    app: 'opencode', scope: 'user', base: 'home', paths: same('.config/opencode/opencode.json', '.config/opencode/opencode.jsonc'), format: 'jsonc',
    extractor: 'opencode', enforcement: 'enabled-false',
  },
  {
    app: 'opencode', scope: 'project', base: 'project', paths: same('opencode.json', 'opencode.jsonc'), format: 'jsonc', extractor: 'opencode',
    enforcement: 'enabled-false',
  },
] as const satisfies readonly ConfigLocation[];

/** How an app's own state names the project folders it has opened. */
export type ProjectSourceKind =
  /** Keys of `projects` in `~/.claude.json`. */
  | 'claude-projects'
  /** Keys of `[projects."<path>"]` in Codex's config.toml. */
  | 'codex-projects'
  /** `folder` (a file:// URI) of `workspaceStorage/<id>/workspace.json` (VS Code, Cursor). */
  | 'workspace-storage'
  /** Keys of `~/.gemini/trustedFolders.json` not marked DO_NOT_TRUST. */
  | 'gemini-trusted-folders';

export interface ProjectSource {
  app: McpApp;
  kind: ProjectSourceKind;
  /** Relative to the home; `*` segments as in ConfigLocation. */
  paths: Readonly<Record<Platform, readonly string[]>>;
}

export const PROJECT_SOURCES = [
  { app: 'claude-code', kind: 'claude-projects', paths: same('.claude.json') },
  { app: 'codex', kind: 'codex-projects', paths: same('.codex/config.toml') },
  {
    app: 'vscode', kind: 'workspace-storage',
    paths: {
      darwin: ['Library/Application Support/Code/User/workspaceStorage/*/workspace.json'],
      win32: ['AppData/Roaming/Code/User/workspaceStorage/*/workspace.json'],
      linux: ['.config/Code/User/workspaceStorage/*/workspace.json'],
    },
  },
  {
    app: 'cursor', kind: 'workspace-storage',
    paths: {
      darwin: ['Library/Application Support/Cursor/User/workspaceStorage/*/workspace.json'],
      win32: ['AppData/Roaming/Cursor/User/workspaceStorage/*/workspace.json'],
      linux: ['.config/Cursor/User/workspaceStorage/*/workspace.json'],
    },
  },
  { app: 'gemini-cli', kind: 'gemini-trusted-folders', paths: same('.gemini/trustedFolders.json') },
] as const satisfies readonly ProjectSource[];
