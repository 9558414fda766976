// Cursor: servers in ~/.cursor/mcp.json and a project's .cursor/mcp.json (JSON with comments). No
// managed policy: a blocked entry gets `disabled: true` in the user's file.
import { onEveryOs, type McpAppAdapter } from '../app-adapter.ts';
import { flagEdit } from '../file-edit.ts';
import { mcpServersOf, normalizeCommonEntry } from '../normalize.ts';
import { workspaceFolder } from '../projects.ts';

export const cursor: McpAppAdapter = {
  id: 'cursor',
  configs: [
    { scope: 'user', base: 'home', paths: onEveryOs('.cursor/mcp.json'), format: 'jsonc', servers: mcpServersOf },
    { scope: 'project', base: 'project', paths: onEveryOs('.cursor/mcp.json'), format: 'jsonc', servers: mcpServersOf },
  ],
  projectSources: [
    {
      paths: {
        darwin: ['Library/Application Support/Cursor/User/workspaceStorage/*/workspace.json'],
        win32: ['AppData/Roaming/Cursor/User/workspaceStorage/*/workspace.json'],
        linux: ['.config/Cursor/User/workspaceStorage/*/workspace.json'],
      },
      format: 'jsonc', projects: workspaceFolder,
    },
  ],
  normalize: (entry) => normalizeCommonEntry(entry),
  enforcement: { kind: 'file-edit', edit: flagEdit('mcpServers', 'disabled', true) },
};
