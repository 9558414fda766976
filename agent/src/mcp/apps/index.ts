// Every app whose MCP servers Heimdall governs, listed once. Adding an app is adding its adapter
// file next to this one and one line here (and its tests). The order is the order files are
// planned in: where two apps name the same path, the first one listed reads it.
import type { McpAppAdapter } from '../app-adapter.ts';
import { claudeCode } from './claude-code.ts';
import { claudeDesktop } from './claude-desktop.ts';
import { codex } from './codex.ts';
import { cursor } from './cursor.ts';
import { geminiCli } from './gemini-cli.ts';
import { opencode } from './opencode.ts';
import { vscode } from './vscode.ts';
import { windsurf } from './windsurf.ts';

export const MCP_APP_ADAPTERS: readonly McpAppAdapter[] = [claudeCode, claudeDesktop, cursor, vscode, codex, geminiCli, windsurf, opencode];
