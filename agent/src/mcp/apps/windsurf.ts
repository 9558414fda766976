// Windsurf: servers in ~/.codeium/windsurf/mcp_config.json. No managed policy: a blocked entry gets
// `disabled: true` in the user's file.
import { onEveryOs, type McpAppAdapter } from '../app-adapter.ts';
import { flagEdit } from '../file-edit.ts';
import { mcpServersOf, normalizeCommonEntry } from '../normalize.ts';

export const windsurf: McpAppAdapter = {
  id: 'windsurf',
  configs: [{ scope: 'user', base: 'home', paths: onEveryOs('.codeium/windsurf/mcp_config.json'), format: 'jsonc', servers: mcpServersOf }],
  projectSources: [],
  normalize: (entry) => normalizeCommonEntry(entry),
  enforcement: { kind: 'file-edit', edit: flagEdit('mcpServers', 'disabled', true) },
};
