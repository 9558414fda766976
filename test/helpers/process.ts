// Helpers for tests that run real processes: start one, read its JSON log lines, wait for it to exit.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const HEIMDALL_BIN = path.join(REPO_ROOT, 'bin/heimdall.js');

export interface RunningProcess {
  child: ChildProcess;
  /** Everything written to stdout so far, as lines. */
  lines(): string[];
  /** JSON log lines parsed (non-JSON lines skipped). */
  logs(): Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first stdout line matching the predicate. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): RunningProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const lines = (): string[] => out.split('\n').filter(Boolean);
  return {
    child,
    lines,
    logs: () =>
      lines().flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown>];
        } catch {
          return [];
        }
      }),
    stderr: () => err,
    exited,
    waitForLine(match, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = lines().find(match);
          if (found !== undefined) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(found);
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        void exited.then(() => {
          if (!check()) {
            clearTimeout(timer);
            reject(new Error(`process exited before a matching line; stdout:\n${out}\nstderr:\n${err}`));
          }
        });
        if (!check()) listeners.add(check);
      });
    },
  };
}

/** Runs a command to completion and returns its output. */
export function runToEnd(command: string, args: string[], options: SpawnOptions & { input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    // A command that exits without reading its input (most do) closes the pipe first: EPIPE on our
    // side is not the command's failure, and its exit code already says how it went.
    child.stdin?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') reject(err);
    });
    child.stdin?.end(options.input ?? '');
  });
}

/** A loopback TCP port that was free a moment ago (for daemons whose config needs a real port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
