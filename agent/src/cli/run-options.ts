// Checks every flag of `heimdall run` before the daemon starts: a daemon started on a guessed value
// (a port of "abc", interception "maybe", a config file that is not there) governs the wrong way
// without saying so. Flags that mirror config keys are checked by the config room's key table.
import { stat } from 'node:fs/promises';
import { invalidConfigFlags, readManagedFile } from '../config/index.ts';

type FlagCheck = (value: string) => Promise<string | undefined>;

async function checkConfigFile(file: string): Promise<string | undefined> {
  const read = await readManagedFile(file);
  if (read.status === 'absent') return `--config ${file}: no such file; give an existing managed config file (JSON), or leave --config out to use the platform's`;
  if (read.status === 'unreadable') return `--config ${file}: cannot use it: ${read.reason}`;
  return undefined;
}

async function checkStateDir(dir: string): Promise<string | undefined> {
  if (dir.trim() === '') return '--state-dir: expected a directory path, got ""';
  try {
    if (!(await stat(dir)).isDirectory()) return `--state-dir ${dir}: expected a directory (created when missing), got a file`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') return `--state-dir ${dir}: cannot use it (${code ?? (err as Error).message})`;
  }
  return undefined;
}

function checkGrace(value: string): Promise<string | undefined> {
  const ok = /^\d+(\.\d+)?$/.test(value.trim()) && Number.isFinite(Number(value));
  return Promise.resolve(ok ? undefined : `--grace: expected a number of seconds, 0 or more, got ${JSON.stringify(value)}`);
}

// commander's attribute name -> its check (flags of `run` that are not config keys).
const RUN_FLAG_CHECKS: Readonly<Record<string, FlagCheck>> = {
  config: checkConfigFile,
  stateDir: checkStateDir,
  grace: checkGrace,
};

/** Every problem with the flags of `heimdall run`, one sentence each; empty when it may start. */
export async function runFlagProblems(options: Record<string, unknown>): Promise<string[]> {
  const problems: string[] = [];
  for (const [attribute, check] of Object.entries(RUN_FLAG_CHECKS)) {
    const value = options[attribute];
    if (typeof value !== 'string') continue;
    const problem = await check(value);
    if (problem !== undefined) problems.push(problem);
  }
  return [...problems, ...invalidConfigFlags(options)];
}
