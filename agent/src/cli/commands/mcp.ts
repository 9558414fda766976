// `heimdall mcp [--json]`: the MCP servers found on this machine, their decision and how it is enforced.
import type { Command } from 'commander';
import type { McpListRow } from '../../mcp/index.ts';
import { fetchFromDaemon } from '../daemon-facts.ts';
import { withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

export interface McpCommandOptions {
  json?: boolean;
}

const COLUMNS = ['APP', 'SCOPE', 'USER', 'NAME', 'FINGERPRINT', 'DECISION', 'ENFORCED', 'PATH'] as const;

function cells(row: McpListRow): string[] {
  const decision = row.decision.status && row.decision.status !== row.decision.verdict ? `${row.decision.verdict} (${row.decision.status})` : row.decision.verdict;
  const path = row.projectPath !== undefined ? `${row.configPath} [${row.projectPath}]` : row.configPath;
  return [row.app, row.scope, row.osUser, row.name, row.fingerprint.replace(/^sha256:/, '').slice(0, 12), decision, row.enforcedHow, path];
}

/** Formats `list()` rows: a table for people, or the rows as JSON (`--json`) for scripts. */
export function formatMcpList(rows: readonly McpListRow[], options: McpCommandOptions = {}): string {
  if (options.json) return `${JSON.stringify(rows, null, 2)}\n`;
  if (rows.length === 0) return 'No MCP servers found in the supported apps.\n';
  const table = [COLUMNS.map(String), ...rows.map(cells)];
  const widths = COLUMNS.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  '));
  const notes = rows.filter((r) => r.enforcedHow === 'not-enforceable' && r.enforcedDetail).map((r) => `! ${r.app} ${r.name}: ${r.enforcedDetail!}`);
  return `${[...lines, ...(notes.length > 0 ? ['', ...notes] : [])].join('\n')}\n`;
}

export function registerMcp(program: Command): void {
  withDaemonLocation(program.command('mcp').description('List the MCP servers configured in the AI apps on this machine, their decision and how it is enforced').option('--json', 'print as JSON'))
    .addHelpText('after', '\nExample:\n  heimdall mcp --json\n')
    .action(async (opts: DaemonLocation & { json?: boolean }) => {
      process.stdout.write(formatMcpList(await fetchFromDaemon<McpListRow[]>(opts, '/v1/mcp'), opts));
    });
}
