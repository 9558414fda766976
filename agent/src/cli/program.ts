// The `heimdall` command line: a thin client over the daemon's local API, plus `run` for the daemon.
// main.ts loads this for every command except the launcher's fast path (launch.ts).
import { Command } from 'commander';
import { AGENT_VERSION } from '../lib/version.ts';
import { registerApps } from './commands/apps.ts';
import { registerCa } from './commands/ca.ts';
import { registerEnv } from './commands/env.ts';
import { registerExec } from './commands/exec.ts';
import { registerHelper } from './commands/helper.ts';
import { registerInstall } from './commands/install.ts';
import { registerLogin } from './commands/login.ts';
import { registerLogout } from './commands/logout.ts';
import { registerMcp } from './commands/mcp.ts';
import { registerRequestAccess } from './commands/request-access.ts';
import { registerRun } from './commands/run.ts';
import { registerStatus } from './commands/status.ts';
import { registerVersion } from './commands/version.ts';
import { registerWhoami } from './commands/whoami.ts';
import { proxyEnvironmentFromDaemon } from './daemon-facts.ts';
import { withDaemonLocation } from './local-daemon.ts';
import { runUserFsHelper, USERFS_HELPER_ARG } from '../userfs/index.ts';

// Every command, in the order `--help` lists them.
const COMMANDS: readonly ((program: Command) => void)[] = [
  registerStatus,
  registerLogin,
  registerLogout,
  registerWhoami,
  (p) => void withDaemonLocation(registerEnv(p, proxyEnvironmentFromDaemon)),
  (p) => void withDaemonLocation(registerExec(p, proxyEnvironmentFromDaemon)),
  registerApps,
  registerMcp,
  registerRequestAccess,
  registerCa,
  registerRun,
  registerInstall,
  registerHelper,
  registerVersion,
];

export function buildProgram(): Command {
  const program = new Command('heimdall')
    .description('Heimdall governs the AI apps on this machine: it routes their traffic through your organization\'s AI gateway.')
    .version(AGENT_VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    // `heimdall exec -- CMD --flag` passes the command's own options through untouched.
    .enablePositionalOptions()
    .addHelpText('after', '\nExamples:\n  heimdall status\n  heimdall run --state-dir /tmp/heimdall-dev\n');
  for (const register of COMMANDS) register(program);
  return program;
}

/**
 * Runs the whole command line. The daemon starts its per-user file helper (agent/src/userfs/) as this
 * same entry (the executables have no other); it is not a command a person runs, so commander never
 * sees it.
 */
export async function runProgram(argv: readonly string[] = process.argv): Promise<void> {
  if (argv[2] === USERFS_HELPER_ARG) {
    await runUserFsHelper(argv.slice(3));
    return;
  }
  await buildProgram().parseAsync([...argv]);
}
