// Runs an OS tool (lsof, ps, codesign, netstat, powershell, getent) without a shell and never throws:
// identification degrades to "unknown" rather than failing a connection.
import { execFile } from 'node:child_process';

export interface CommandResult {
  /** True when the tool ran and exited 0. */
  ok: boolean;
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run or did not finish (ENOENT, timeout), when that is the case. */
  error?: string;
}

export interface RunOptions {
  timeoutMs?: number;
  maxBytes?: number;
}

/** How the per-OS resolvers run commands; tests and the daemon pass the real one. */
export type CommandRunner = (file: string, args: readonly string[], options?: RunOptions) => Promise<CommandResult>;

export const runCommand: CommandRunner = (file, args, options = {}) =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { timeout: options.timeoutMs ?? 5000, maxBuffer: options.maxBytes ?? 8 * 1024 * 1024, encoding: 'utf8', windowsHide: true },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ ok: true, exitCode: 0, stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        resolve({
          ok: false,
          exitCode: typeof e.code === 'number' ? e.code : null,
          stdout: stdout ?? '',
          stderr: stderr ?? '',
          error: e.killed ? 'timed out' : typeof e.code === 'string' ? e.code : e.message,
        });
      },
    );
  });
