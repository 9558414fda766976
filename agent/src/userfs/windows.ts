// Windows: the userfs helper started as the user. Windows has no uid to drop to after starting, so
// the daemon (LocalSystem) starts the helper with the user's own token: the native addon finds the
// user's logon session by SID, takes its token (WTSQueryUserToken: the user's ordinary, filtered
// token) and calls CreateProcessAsUserW with three anonymous pipes as the only inherited handles
// (agent/native/sockdiag/peercred_win.c, spawnAsUser). The file system then checks every open against
// the user's own rights, so a junction or symbolic link the user planted leads only where the user
// could go anyway. A user with no logon session (signed out) has no token: their file work is refused,
// never done as SYSTEM.
//
// The command line and the environment block are built here (pure, tested on Linux); the spawn is
// a thin shell over the addon.
import { EventEmitter } from 'node:events';
import { Socket } from 'node:net';
import type { HelperChild, HelperCommand } from './client.ts';

/** The addon call (Windows only). */
export type SpawnAsUser = (sid: string, application: string, commandLine: string, environment: string) => { pid: number; stdin: number; stdout: number; stderr: number };

/**
 * One argument quoted so CommandLineToArgvW (and the C runtime Node uses) gives it back unchanged:
 * backslashes are literal except before a quote, where they are doubled, and the quote escaped.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg.includes('\0')) throw new Error('a Windows command-line argument cannot hold a NUL character');
  if (arg !== '' && !/[ \t\n\v"]/.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === '\\') {
      backslashes++;
      continue;
    }
    out += ch === '"' ? `${'\\'.repeat(backslashes * 2 + 1)}"` : `${'\\'.repeat(backslashes)}${ch}`;
    backslashes = 0;
  }
  return `${out}${'\\'.repeat(backslashes * 2)}"`;
}

/** The command line CreateProcessAsUserW takes: the program and its arguments, each quoted. */
export function windowsCommandLine(argv: readonly string[]): string {
  const line = argv.map(quoteWindowsArg).join(' ');
  if (line.length > 32_766) throw new Error(`the command line is ${line.length} characters; Windows takes at most 32,766`);
  return line;
}

/**
 * A Unicode environment block: `NAME=value` entries sorted by name without regard to case (as
 * Windows keeps them), each ended by a NUL; the addon adds the final NUL that ends the block.
 */
export function environmentBlock(env: Readonly<Record<string, string | undefined>>): string {
  const entries = Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined);
  for (const [name, value] of entries) {
    if (name === '' || name.includes('=') || name.includes('\0')) throw new Error(`environment name ${JSON.stringify(name)}: must be non-empty, without "=" or NUL`);
    if (value.includes('\0')) throw new Error(`environment variable ${name}: its value holds a NUL character`);
  }
  entries.sort(([a], [b]) => (a.toUpperCase() < b.toUpperCase() ? -1 : a.toUpperCase() > b.toUpperCase() ? 1 : 0));
  return entries.map(([n, v]) => `${n}=${v}\0`).join('');
}

/** The helper's environment on Windows: what Node needs to start, nothing of the daemon's. */
export function windowsHelperEnv(systemRoot: string, heapMb: number): Record<string, string> {
  return { SystemRoot: systemRoot, PATH: `${systemRoot}\\System32`, NODE_OPTIONS: `--max-old-space-size=${heapMb}` };
}

/** The helper as started by the addon: its three pipes as Node sockets, ending when its output ends. */
class WindowsHelperChild extends EventEmitter implements HelperChild {
  readonly stdin: Socket;
  readonly stdout: Socket;
  readonly stderr: Socket;
  readonly pid: number;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;

  constructor(started: ReturnType<SpawnAsUser>) {
    super();
    this.pid = started.pid;
    this.stdin = new Socket({ fd: started.stdin, readable: false, writable: true });
    this.stdout = new Socket({ fd: started.stdout, readable: true, writable: false });
    this.stderr = new Socket({ fd: started.stderr, readable: true, writable: false });
    // No exit status reaches Node for a process it did not start: the helper has ended when its
    // output closes (it exits when its stdin closes, or dies).
    this.stdout.once('close', () => {
      this.exitCode = 0;
      this.stdin.destroy();
      this.stderr.destroy();
      this.emit('exit', 0, null);
    });
  }

  kill(): boolean {
    this.stdin.destroy();
    this.stdout.destroy();
    try {
      process.kill(this.pid);
    } catch {
      // already gone
    }
    return true;
  }
}

/** Starts helpers as the user with this SID through the addon. */
export function windowsHelperSpawner(spawnAsUser: SpawnAsUser, sid: string): (command: HelperCommand) => HelperChild {
  return (command) => new WindowsHelperChild(spawnAsUser(sid, command.command, windowsCommandLine([command.command, ...command.args]), environmentBlock(command.env)));
}
