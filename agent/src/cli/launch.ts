// The launcher's fast path: `heimdall exec -- CMD` and `heimdall env` run in front of every command a
// person wraps, so they load only what they need (this file, the local API client, the proxy
// environment's formatter) and not the rest of the CLI, which costs ~0.3 s of CPU to load
// (docs/performance.md, "The launcher"). Only the forms parsed below are served here; anything else
// (help, an unknown or malformed option) returns false and the whole CLI parses it, so its answers
// and errors stay commander's.
import { proxyEnvironmentFromDaemon } from './daemon-facts.ts';
import { detectShell, renderEnv } from './commands/env.ts';
import { execWithProxyEnvironment } from './commands/exec.ts';
import { applyProxyEnvironment } from '../lib/proxy-environment.ts';
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

/** What the fast path understood of `heimdall exec|env ...`; undefined when the whole CLI must parse it. */
export type LaunchRequest =
  | { command: 'exec'; location: Record<string, string>; program: string; args: string[] }
  | { command: 'env'; location: Record<string, string>; shell: string | undefined };

// The options each command takes before its operands, as commander names them in the action's options.
const LOCATION_OPTIONS: Readonly<Record<string, string>> = { '--state-dir': 'stateDir', '--socket': 'socket' };

/**
 * Parses argv after the command's name the way commander does for these two commands (options with
 * a value as `--opt value` or `--opt=value`, the last one winning; `exec` stops at `--` or at its first
 * operand and passes the rest through untouched). Undefined for anything else.
 */
export function parseLaunch(command: string, rest: readonly string[]): LaunchRequest | undefined {
  if (command !== 'exec' && command !== 'env') return undefined;
  const options: Record<string, string> = {};
  const known = command === 'env' ? { ...LOCATION_OPTIONS, '--shell': 'shell' } : LOCATION_OPTIONS;
  let i = 0;
  for (; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-')) break;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const key = known[name];
    if (key === undefined) return undefined;
    const value = eq === -1 ? rest[++i] : arg.slice(eq + 1);
    // A missing value, or one that looks like an option: commander's error is the clearer answer.
    if (value === undefined || (eq === -1 && value.startsWith('-'))) return undefined;
    options[key] = value;
  }
  const operands = rest.slice(i);
  const { shell, ...location } = options;
  if (command === 'env') return operands.length === 0 ? { command, location, shell } : undefined;
  const [program, ...args] = operands;
  return program === undefined ? undefined : { command, location, program, args };
}

/** Serves `exec` / `env` from argv; false when argv is not a form the fast path serves. */
export async function launch(argv: readonly string[]): Promise<boolean> {
  const request = parseLaunch(argv[2] ?? '', argv.slice(3));
  if (!request) return false;
  if (request.command === 'exec') {
    const input = await proxyEnvironmentFromDaemon(request.location);
    // POSIX: become the command (execve), as a shell's `exec` does: no second process to start,
    // relay signals to and wait for; its exit status is the caller's to see directly.
    if (typeof process.execve === 'function' && process.platform !== 'win32') {
      const file = findExecutable(request.program);
      if (file === undefined) throw new Error(`heimdall exec: command not found: ${request.program}`);
      process.execve(file, [request.program, ...request.args], definedOnly(applyProxyEnvironment(process.env, input)));
    }
    process.exitCode = await execWithProxyEnvironment(request.program, request.args, input);
    return true;
  }
  let shell;
  try {
    shell = detectShell(request.shell);
  } catch (err) {
    console.error(`heimdall env: ${(err as Error).message}`);
    process.exitCode = 2;
    return true;
  }
  process.stdout.write(renderEnv(await proxyEnvironmentFromDaemon(request.location), shell));
  return true;
}

/**
 * Where execvp(3) would find `program`: itself when it names a path (has a slash), else the first
 * regular, executable file of that name in PATH's folders (an empty entry is the working folder).
 */
export function findExecutable(program: string, searchPath: string | undefined = process.env['PATH']): string | undefined {
  const usable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes('/')) return usable(program) ? program : undefined;
  if (program === '') return undefined;
  for (const folder of (searchPath ?? '/usr/bin:/bin').split(':')) {
    const file = path.join(folder === '' ? '.' : folder, program);
    if (usable(file)) return file;
  }
  return undefined;
}

function definedOnly(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) out[name] = value;
  return out;
}
