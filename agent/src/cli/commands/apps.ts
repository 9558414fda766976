// `heimdall apps [--json]`: the AI apps seen on this machine, their last decision and last use.
import type { Command } from 'commander';
import type { SeenAppRow } from '../../policy/index.ts';
import { fetchFromDaemon } from '../daemon-facts.ts';
import { withDaemonLocation, type DaemonLocation } from '../local-daemon.ts';

const COLUMNS = ['APP', 'ID', 'KIND', 'DECISION', 'ALLOWED', 'BLOCKED', 'LAST USED', 'USER'] as const;

export function formatApps(rows: readonly SeenAppRow[]): string {
  if (rows.length === 0) return 'No AI apps have made requests through Heimdall on this machine yet.\n';
  const table = [
    [...COLUMNS],
    ...rows.map((r) => [r.displayName, r.appId, r.kind, `${r.lastVerdict} (${r.lastStatus})`, String(r.allowedCount), String(r.blockedCount), r.lastUsedAt, r.lastOsUser ?? '']),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return `${table.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`;
}

export function registerApps(program: Command): void {
  withDaemonLocation(program.command('apps').description('List the AI apps seen on this machine with their decision and last use').option('--json', 'print as JSON'))
    .addHelpText('after', '\nExample:\n  heimdall apps\n')
    .action(async (opts: DaemonLocation & { json?: boolean }) => {
      const rows = await fetchFromDaemon<SeenAppRow[]>(opts, '/v1/apps');
      process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : formatApps(rows));
    });
}
