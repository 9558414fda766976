// The daemon's side of one user's helper: starts it on first use, sends framed requests, and lets it
// go after a quiet spell (the next request starts a new one). One helper per user serves a whole
// scan, so a 1,000-project scan pays one process start, not a thousand.
import { spawn } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock, type ClockTimer } from '../../../lib/index.ts';
import { helperArgs, USERFS_HELPER_ARG, type HelperIdentity } from './helper.ts';
import { encodeFrame, FrameReader, type HelperRequest, type HelperResponse, type HelperResult } from './protocol.ts';
import { UserFsError, type ReadOptions, type ReadResult, type UserFs } from './types.ts';
import { windowsHelperEnv } from './windows.ts';

/** The helper's V8 heap cap: a streamed 200 MB file peaks near 120 MB; above the cap the helper dies, the daemon does not. */
export const HELPER_HEAP_MB = 256;
export const DEFAULT_IDLE_MS = 30_000;

export interface HelperCommand {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

type SeaModule = { isSea(): boolean };

/** What the client needs of a helper process: a child_process child, or on Windows the addon's (windows.ts). */
export interface HelperChild extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
}

/** Starts a helper; throws when it cannot (the user has no logon session on Windows, say). */
export type HelperSpawner = (command: HelperCommand) => HelperChild;

const spawnChild: HelperSpawner = ({ command, args, env }) => spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'], cwd: '/' });

/** Where the running agent's code came from: what decides how it starts its own code again as the helper. */
export interface AgentRuntime {
  /** A single-file executable (Node's SEA): the program is the executable itself. */
  isSea: boolean;
  /** The URL of the module that holds helperCommand: a `.ts` file from source, a bundle's chunk otherwise. */
  moduleUrl: string;
  /** The script Node was started with (`process.argv[1]`): the bundle's entry when bundled. */
  mainScript: string | undefined;
}

function currentRuntime(): AgentRuntime {
  const sea = process.getBuiltinModule('node:sea') as SeaModule | undefined;
  return { isSea: sea?.isSea() ?? false, moduleUrl: import.meta.url, mainScript: process.argv[1] };
}

/**
 * How to start the agent's own code as the helper: the executable runs itself with the helper
 * argument, and so does the bundle (`node heimdall.mjs __userfs-helper ...`: its CLI entry dispatches
 * it; a chunk of the bundle has no helper-main.ts beside it); from source, Node runs helper-main.ts.
 * The environment is rebuilt from nothing, so none of the daemon's variables reaches a process the
 * user owns.
 */
export function helperCommand(id: HelperIdentity, platform: NodeJS.Platform = process.platform, runtime: AgentRuntime = currentRuntime()): HelperCommand {
  const env =
    platform === 'win32'
      ? windowsHelperEnv(process.env['SystemRoot'] ?? 'C:\\Windows', HELPER_HEAP_MB)
      : { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', NODE_OPTIONS: `--max-old-space-size=${HELPER_HEAP_MB}` };
  if (runtime.isSea) return { command: process.execPath, args: [USERFS_HELPER_ARG, ...helperArgs(id)], env };
  if (runtime.moduleUrl.endsWith('.ts')) return { command: process.execPath, args: [fileURLToPath(new URL('./helper-main.ts', runtime.moduleUrl)), ...helperArgs(id)], env };
  if (!runtime.mainScript) throw new UserFsError('helper', 'cannot start the per-user file helper: the bundled agent was not started from a script file');
  return { command: process.execPath, args: [runtime.mainScript, USERFS_HELPER_ARG, ...helperArgs(id)], env };
}

/** A request before the client numbers it. */
type HelperRequestBody = HelperRequest extends infer R ? (R extends HelperRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  /** The helper the request went to: a helper that ends fails only its own requests. */
  child: HelperChild;
  resolve: (r: HelperResult) => void;
  reject: (e: Error) => void;
}

export interface HelperUserFsOptions {
  idleMs?: number;
  clock?: Clock;
  /** Replaces helperCommand (tests). */
  command?: HelperCommand;
  /** How the helper is started: child_process by default, the addon's spawnAsUser on Windows. */
  spawn?: HelperSpawner;
}

export class HelperUserFs implements UserFs {
  readonly #id: HelperIdentity;
  readonly #o: Required<Omit<HelperUserFsOptions, 'command'>> & Pick<HelperUserFsOptions, 'command'>;
  #child: HelperChild | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();
  #idle: ClockTimer | undefined;
  #stderr = '';
  /** Helpers started so far (status and tests). */
  starts = 0;

  constructor(id: HelperIdentity, options: HelperUserFsOptions = {}) {
    this.#id = id;
    this.#o = { idleMs: options.idleMs ?? DEFAULT_IDLE_MS, clock: options.clock ?? systemClock, command: options.command, spawn: options.spawn ?? spawnChild };
  }

  async read(anchor: string, rel: string, options: ReadOptions): Promise<ReadResult | undefined> {
    const r = await this.#call({ op: 'read', anchor, rel, options });
    switch (r.kind) {
      case 'missing':
        return undefined;
      case 'bytes':
        return { kind: 'bytes', info: r.info, bytes: Buffer.from(r.data, 'base64') };
      case 'streamed':
      case 'too-large':
        return r;
      default:
        throw new UserFsError('helper', `the userfs helper answered a read with "${r.kind}"`);
    }
  }

  async replace(anchor: string, rel: string, data: Buffer, options: { mode: number }): Promise<void> {
    await this.#call({ op: 'replace', anchor, rel, data: data.toString('base64'), mode: options.mode });
  }

  async remove(anchor: string, rel: string): Promise<void> {
    await this.#call({ op: 'remove', anchor, rel });
  }

  /** Ends the helper (it exits when its stdin closes). */
  close(): Promise<void> {
    this.#o.clock.clearTimeout(this.#idle);
    const child = this.#child;
    if (!child) return Promise.resolve();
    this.#child = undefined;
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.stdin.end();
    });
  }

  #call(req: HelperRequestBody): Promise<HelperResult> {
    this.#o.clock.clearTimeout(this.#idle);
    let child: HelperChild;
    try {
      child = this.#child ?? this.#start();
    } catch (err) {
      return Promise.reject(new UserFsError('helper', `cannot start the userfs helper for ${this.#who()} (${(err as Error).message}); the file work is refused, not done as the daemon`));
    }
    const id = this.#nextId++;
    return new Promise<HelperResult>((resolve, reject) => {
      this.#pending.set(id, { child, resolve, reject });
      try {
        child.stdin.write(encodeFrame({ ...req, id }));
      } catch (err) {
        this.#pending.delete(id);
        reject(new UserFsError('helper', `cannot send to the userfs helper: ${(err as Error).message}`));
      }
    }).finally(() => this.#armIdle());
  }

  #armIdle(): void {
    if (this.#pending.size > 0 || !this.#child) return;
    this.#o.clock.clearTimeout(this.#idle);
    this.#idle = this.#o.clock.setTimeout(() => void this.close(), this.#o.idleMs);
    this.#idle.unref();
  }

  #who(): string {
    return this.#id.windowsUser !== undefined ? this.#id.windowsUser : `uid ${this.#id.uid}`;
  }

  #start(): HelperChild {
    // Worked out at the first start, where an error is the request's refusal, not the constructor's throw.
    const child = this.#o.spawn(this.#o.command ?? helperCommand(this.#id));
    this.starts++;
    this.#child = child;
    this.#stderr = '';
    const reader = new FrameReader();
    child.stdout.on('data', (chunk: Buffer) => {
      let frames: unknown[];
      try {
        frames = reader.push(chunk);
      } catch (err) {
        this.#fail(child, `the userfs helper sent a bad frame (${(err as Error).message})`);
        child.kill('SIGKILL');
        return;
      }
      for (const f of frames) {
        const res = f as HelperResponse;
        const p = this.#pending.get(res.id);
        if (!p) continue;
        this.#pending.delete(res.id);
        if (res.ok) p.resolve(res.result);
        else p.reject(new UserFsError(res.code, res.message));
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (this.#stderr.length < 2048) this.#stderr += chunk.toString('utf8');
    });
    child.stdin.on('error', () => undefined); // a dead helper is reported by 'exit'
    child.on('error', (err: Error) => this.#fail(child, `cannot start the userfs helper for ${this.#who()} (${err.message})`));
    child.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      const why = this.#stderr.trim().split('\n')[0] ?? '';
      this.#fail(child, `the userfs helper for ${this.#who()} exited (${signal ?? `code ${code}`})${why ? `: ${why}` : ''}`);
    });
    return child;
  }

  #fail(child: HelperChild, message: string): void {
    if (this.#child === child) this.#child = undefined;
    for (const [id, p] of this.#pending) {
      if (p.child !== child) continue;
      this.#pending.delete(id);
      p.reject(new UserFsError('helper', message));
    }
  }
}
