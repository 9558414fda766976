// The `heimdall` command line: a thin client over the daemon's local API, plus `run` for the daemon.
import { Command } from 'commander';
import { AGENT_VERSION } from '../lib/version.ts';
import { registerRun } from './commands/run.ts';
import { registerStatus } from './commands/status.ts';
import { registerVersion } from './commands/version.ts';

// Every command, in the order `--help` lists them.
const COMMANDS: readonly ((program: Command) => void)[] = [registerRun, registerStatus, registerVersion];

export function buildProgram(): Command {
  const program = new Command('heimdall')
    .description('Heimdall governs the AI apps on this machine: it routes their traffic through your organization\'s AI gateway.')
    .version(AGENT_VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    .addHelpText('after', '\nExamples:\n  heimdall status\n  heimdall run --state-dir /tmp/heimdall-dev\n');
  for (const register of COMMANDS) register(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  console.error(`heimdall: ${(err as Error).message}`);
  process.exitCode = 1;
}
