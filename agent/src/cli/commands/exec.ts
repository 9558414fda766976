// `heimdall exec -- CMD ARGS`: runs one command with the proxy environment, as if it were the
// command itself (same stdio, same exit code, signals passed on).
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Command } from 'commander';
import { applyProxyEnvironment, type ProxyEnvironmentInput } from '../../lib/proxy-environment.ts';

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface ExecOptions {
  /** Base environment (default: this process's). Heimdall's variables override it. */
  baseEnv?: NodeJS.ProcessEnv;
  stdio?: 'inherit' | 'pipe';
}

/**
 * Runs `command` with the proxy environment and resolves with the exit code to use: the child's
 * code, or 128 + signal number when the child died of a signal (as shells report it).
 */
export function execWithProxyEnvironment(command: string, args: readonly string[], input: ProxyEnvironmentInput, options: ExecOptions = {}): Promise<number> {
  const env = applyProxyEnvironment(options.baseEnv ?? process.env, input);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: options.stdio ?? 'inherit' });
    const relays = FORWARDED_SIGNALS.filter((s) => process.platform !== 'win32' || s === 'SIGINT').map((signal) => {
      const relay = (): void => { child.kill(signal); };
      process.on(signal, relay);
      return () => process.off(signal, relay);
    });
    const cleanup = (): void => { for (const off of relays) off(); };
    child.once('error', (err: NodeJS.ErrnoException) => {
      cleanup();
      reject(err.code === 'ENOENT' ? new Error(`heimdall exec: command not found: ${command}`) : err);
    });
    child.once('exit', (code, signal) => {
      cleanup();
      if (signal) resolve(128 + (os.constants.signals[signal] ?? 0));
      else resolve(code ?? 1);
    });
  });
}

/** Registers `heimdall exec -- CMD [ARGS...]`; `resolve` supplies the proxy URL and CA paths. */
export function registerExec(program: Command, resolve: (options: Record<string, unknown>) => Promise<ProxyEnvironmentInput>): Command {
  return program
    .command('exec')
    .description("Run a command with its AI traffic sent through Heimdall's proxy")
    .argument('<command>', 'program to run')
    .argument('[args...]', 'its arguments (put -- before them)')
    .passThroughOptions()
    .addHelpText('after', '\nExamples:\n  heimdall exec -- claude -p "say hi"\n  heimdall exec -- codex exec "list files"\n')
    .action(async (command: string, args: string[], opts: Record<string, unknown>) => {
      const code = await execWithProxyEnvironment(command, args, await resolve(opts));
      process.exitCode = code;
    });
}
