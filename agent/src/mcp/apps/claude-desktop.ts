// Claude Desktop: servers in the user's claude_desktop_config.json. It has no managed policy and no
// per-server switch, so a blocked entry is moved under Heimdall's quarantine key in that file.
import { type McpAppAdapter } from '../app-adapter.ts';
import { quarantineEdit } from '../file-edit.ts';
import { mcpServersOf, normalizeCommonEntry } from '../normalize.ts';

export const claudeDesktop: McpAppAdapter = {
  id: 'claude-desktop',
  configs: [
    {
      scope: 'user', base: 'home',
      paths: {
        darwin: ['Library/Application Support/Claude/claude_desktop_config.json'],
        win32: [
          'AppData/Roaming/Claude/claude_desktop_config.json',
          // The Microsoft Store (MSIX) build keeps its roaming data in the package's virtualised folder.
          'AppData/Local/Packages/Claude_pzs8sxrjxfjjc/LocalCache/Roaming/Claude/claude_desktop_config.json',
        ],
        linux: ['.config/Claude/claude_desktop_config.json'],
      },
      format: 'json', servers: mcpServersOf,
    },
  ],
  projectSources: [],
  normalize: (entry) => normalizeCommonEntry(entry),
  enforcement: { kind: 'file-edit', edit: quarantineEdit },
};
