// `heimdall run`: the daemon in the foreground (what the service manager starts).
import type { Command } from 'commander';
import { CONFIG_FLAGS } from '../../config/index.ts';
import { startDaemon } from '../../daemon/index.ts';
import { runFlagProblems } from '../run-options.ts';

/** A flag with a value `run` does not accept (documented in `heimdall run --help`). */
const RUN_USAGE_EXIT_CODE = 2;

export function registerRun(program: Command): void {
  const run = program
    .command('run')
    .description('Run the Heimdall daemon in the foreground (the service manager runs this; Ctrl-C stops it cleanly)')
    .option('--config <file>', 'managed config file to read instead of the platform default (development)')
    .option('--state-dir <dir>', 'keep state and the local API socket in this directory, so no root is needed (development)')
    .option('--grace <seconds>', 'how long in-flight work may run after SIGTERM before it is closed', '10');
  for (const f of CONFIG_FLAGS) run.option(f.flag, `${f.description} (lowest precedence)`);
  run.addHelpText(
    'after',
    '\nEvery flag is checked before the daemon starts: a value a flag does not accept, or a --config file\n' +
      'that is missing or not valid JSON, stops it with exit code 2 and a message naming the flag.\n' +
      '\nExample:\n  heimdall run --state-dir /tmp/heimdall-dev --gateway-url http://127.0.0.1:8080\n',
  );
  run.action(async (opts: Record<string, unknown>) => {
    const problems = await runFlagProblems(opts);
    if (problems.length > 0) {
      for (const p of problems) console.error(`heimdall run: ${p}`);
      console.error('heimdall run: not started; see `heimdall run --help`');
      process.exit(RUN_USAGE_EXIT_CODE);
    }
    const grace = Number(opts['grace']);
    try {
      const daemon = await startDaemon({
        ...(typeof opts['stateDir'] === 'string' ? { stateDir: opts['stateDir'] } : {}),
        ...(typeof opts['config'] === 'string' ? { configFile: opts['config'] } : {}),
        flags: opts,
        graceMs: grace * 1000,
      });
      daemon.lifecycle.installSignalHandlers();
      // A promise nobody awaited failed: that is a bug to fix, not a reason to stop governing traffic.
      process.on('unhandledRejection', (reason) => {
        daemon.logger.error({ err: reason instanceof Error ? reason.message : String(reason), stack: reason instanceof Error ? reason.stack : undefined }, 'unhandled promise rejection (bug); continuing');
      });
      // A thrown exception leaves state unknown: log it and exit non-zero so the service manager restarts us.
      process.on('uncaughtException', (err) => {
        daemon.logger.fatal({ err: err.message, stack: err.stack }, 'uncaught exception; exiting for the service manager to restart the daemon');
        process.exit(70);
      });
    } catch (err) {
      console.error(`heimdall: the daemon could not start: ${(err as Error).message}`);
      process.exit(1);
    }
  });
}
