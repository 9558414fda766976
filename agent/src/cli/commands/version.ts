// `heimdall version`.
import type { Command } from 'commander';
import { AGENT_COMMIT, AGENT_VERSION } from '../../lib/version.ts';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('Print the version of this heimdall command')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  heimdall version --json\n')
    .action((opts: { json?: boolean }) => {
      const facts = { version: AGENT_VERSION, ...(AGENT_COMMIT ? { commit: AGENT_COMMIT } : {}), node: process.version, platform: `${process.platform}-${process.arch}` };
      const built = AGENT_COMMIT ? `commit ${AGENT_COMMIT.replace(/^([0-9a-f]{12})[0-9a-f]*/, '$1')}, ` : '';
      console.log(opts.json ? JSON.stringify(facts) : `heimdall ${facts.version} (${built}node ${facts.node}, ${facts.platform})`);
    });
}
