// OpenCode: servers in ~/.config/opencode/opencode.json[c] (on every OS) and a project's
// opencode.json[c], under `mcp` with its own shape. No managed policy: a blocked entry gets
// `enabled: false` in the user's file.
import { z } from 'zod';
import { onEveryOs, type McpAppAdapter } from '../app-adapter.ts';
import { flagEdit } from '../file-edit.ts';
import { describeZodError, dropUndefined, finishEntry, scalar, serversUnder, stringMap, type NormalizeResult, type RawEntry } from '../normalize.ts';

/** `{ "mcp": { NAME: { type: local|remote, command: [...], url } } }`. */
const opencodeEntry = z.looseObject({
  type: z.enum(['local', 'remote']).optional(),
  command: z.union([z.array(scalar).min(1), z.string().min(1)]).optional(),
  environment: stringMap.optional(),
  url: z.string().min(1).optional(),
  headers: stringMap.optional(),
  enabled: z.boolean().optional(),
});

function normalizeOpencodeEntry(entry: RawEntry): NormalizeResult {
  const r = opencodeEntry.safeParse(entry.value);
  if (!r.success) return { ok: false, message: describeZodError(r.error) };
  const v = r.data;
  const enabled = v.enabled !== false;
  if (v.command !== undefined && v.type !== 'remote') {
    const argv = typeof v.command === 'string' ? [v.command] : v.command;
    return finishEntry(entry, dropUndefined({ transport: 'stdio', command: argv[0]!, args: argv.slice(1), env: v.environment, enabled }));
  }
  if (v.url) return finishEntry(entry, dropUndefined({ transport: 'http', url: v.url, headers: v.headers, enabled }));
  return { ok: false, message: 'neither `command` nor `url` is set' };
}

const paths = { user: onEveryOs('.config/opencode/opencode.json', '.config/opencode/opencode.jsonc'), project: onEveryOs('opencode.json', 'opencode.jsonc') };

export const opencode: McpAppAdapter = {
  id: 'opencode',
  configs: [
    { scope: 'user', base: 'home', paths: paths.user, format: 'jsonc', servers: serversUnder('mcp') },
    { scope: 'project', base: 'project', paths: paths.project, format: 'jsonc', servers: serversUnder('mcp') },
  ],
  projectSources: [],
  normalize: normalizeOpencodeEntry,
  enforcement: { kind: 'file-edit', edit: flagEdit('mcp', 'enabled', false) },
};
