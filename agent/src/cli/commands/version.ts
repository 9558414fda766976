// `heimdall version`.
import type { Command } from 'commander';
import { AGENT_VERSION } from '../../lib/version.ts';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the version of this heimdall command')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  heimdall version --json\n')
    .action((opts: { json?: boolean }) => {
      const facts = { version: AGENT_VERSION, node: process.version, platform: `${process.platform}-${process.arch}` };
      console.log(opts.json ? JSON.stringify(facts) : `heimdall ${facts.version} (node ${facts.node}, ${facts.platform})`);
    });
}
