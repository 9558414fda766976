// Runs the `heimdall login` command module as the CLI would (a commander program in its own
// process), for the CLI tests: real stdin, real terminal (through a pty), real local API socket.
import { Command } from 'commander';
import { registerLogin } from '../../agent/src/cli/commands/login.ts';

const program = new Command('heimdall').exitOverride();
registerLogin(program);
try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = (err as { exitCode?: number }).exitCode;
  process.exitCode = typeof code === 'number' ? code : 1;
}
