// How CLI commands find the daemon: the platform's socket, or the one inside a development state dir.
import type { Command } from 'commander';
import { resolvePaths } from '../lib/platform.ts';

export interface DaemonLocation {
  stateDir?: string;
  socket?: string;
}

/** Adds `--state-dir` and `--socket` to a command that talks to the daemon. */
export function withDaemonLocation(command: Command): Command {
  return command
    .option('--state-dir <dir>', 'talk to a development daemon started with this --state-dir (env HEIMDALL_STATE_DIR)')
    .option('--socket <path>', 'local API socket of the daemon (overrides --state-dir)');
}

export function socketPathFor(options: DaemonLocation): string {
  // An empty value would silently fall back to the machine's daemon: refuse it instead of guessing.
  if (options.socket !== undefined && options.socket.trim() === '') throw new Error('--socket: expected the path of the daemon\'s local API socket, got ""');
  if (options.stateDir !== undefined && options.stateDir.trim() === '') throw new Error('--state-dir: expected the state directory of a development daemon, got ""');
  if (options.socket) return options.socket;
  const stateDir = options.stateDir ?? process.env['HEIMDALL_STATE_DIR'];
  return resolvePaths(stateDir ? { stateDir } : {}).localApiSocket;
}

/** The one command that starts the daemon this CLI talks to, for messages saying it is not running. */
export function startDaemonCommand(options: DaemonLocation, platform: NodeJS.Platform = process.platform): string {
  const stateDir = options.stateDir ?? process.env['HEIMDALL_STATE_DIR'];
  if (options.socket === undefined && stateDir) return `heimdall run --state-dir ${stateDir}`;
  if (platform === 'darwin') return 'sudo launchctl kickstart -k system/io.heimdall.agent';
  if (platform === 'win32') return 'sc.exe start Heimdall';
  return 'sudo systemctl start heimdall';
}
