// The helper process: started by the daemon as root, it first becomes the user (supplementary
// groups, then gid, then uid, and proves it cannot become root again), then serves framed requests
// from stdin one at a time with LocalUserFs until stdin closes. It holds nothing between requests.
// On Windows it is started already as the user (windows.ts) and checks that it is.
import os from 'node:os';
import { FrameReader, encodeFrame, type HelperRequest, type HelperResponse, type HelperResult } from './protocol.ts';
import { LocalUserFs } from './local.ts';
import { UserFsError } from './types.ts';

/** The argument that makes the agent's own entry run as this helper (the executables have no other entry). */
export const USERFS_HELPER_ARG = '__userfs-helper';

export interface HelperIdentity {
  uid: number;
  gid: number;
  groups: number[];
  /** Windows: the account (DOMAIN\\name or name) the helper was started as; uid and gid are -1. */
  windowsUser?: string;
}

const WINDOWS_ACCOUNT = /^(?:[^\\/:*?"<>|\0]{1,64}\\)?[^\\/:*?"<>|@\0\s][^\\/:*?"<>|\0]{0,63}$/;

export function helperArgs(id: HelperIdentity): string[] {
  if (id.windowsUser !== undefined) return [`--windows-user=${id.windowsUser}`];
  return [`--uid=${id.uid}`, `--gid=${id.gid}`, `--groups=${id.groups.join(',')}`];
}

/** Parses helperArgs' output; throws on anything else (the helper then exits without serving). */
export function parseHelperArgs(argv: readonly string[]): HelperIdentity {
  const windows = argv.find((x) => x.startsWith('--windows-user='));
  if (windows !== undefined) {
    const name = windows.slice('--windows-user='.length);
    if (!WINDOWS_ACCOUNT.test(name)) throw new Error(`--windows-user: expected DOMAIN\\name or name, got "${name.slice(0, 80)}"`);
    return { uid: -1, gid: -1, groups: [], windowsUser: name };
  }
  const get = (name: string): string => {
    const a = argv.find((x) => x.startsWith(`--${name}=`));
    if (a === undefined) throw new Error(`missing --${name}=`);
    return a.slice(name.length + 3);
  };
  const int = (s: string, what: string): number => {
    if (!/^\d{1,10}$/.test(s)) throw new Error(`${what}: expected a non-negative integer, got "${s.slice(0, 20)}"`);
    return Number(s);
  };
  const groups = get('groups');
  return { uid: int(get('uid'), '--uid'), gid: int(get('gid'), '--gid'), groups: groups === '' ? [] : groups.split(',').map((g) => int(g, '--groups')) };
}

/**
 * Windows: the helper was started with the user's token; it goes on only when the token's account is
 * the one asked for (os.userInfo reads the token, not the environment) and is not LocalSystem.
 */
export function checkWindowsAccount(expected: string, actual: string): void {
  const want = expected.split('\\').at(-1)!.toLowerCase();
  if (actual.toLowerCase() !== want) throw new Error(`started as "${actual}", not as "${expected}"`);
  if (actual.toUpperCase() === 'SYSTEM' || actual.endsWith('$')) throw new Error(`started as the machine account "${actual}", not as a user`);
}

/** Becomes `id` for good. Throws when any step fails or root could be regained. */
export function dropPrivileges(id: HelperIdentity): void {
  if (id.windowsUser !== undefined) {
    checkWindowsAccount(id.windowsUser, os.userInfo().username);
    return;
  }
  if (typeof process.getuid !== 'function' || !process.setuid || !process.setgid || !process.setgroups) throw new Error('no POSIX credentials on this OS');
  if (process.getuid() === id.uid && process.geteuid?.() === id.uid) return; // already the user (the daemon is)
  process.setgroups([id.gid, ...id.groups.filter((g) => g !== id.gid)]);
  process.setgid(id.gid);
  process.setuid(id.uid);
  if (process.getuid() !== id.uid || process.geteuid?.() !== id.uid || process.getgid?.() !== id.gid || process.getegid?.() !== id.gid) {
    throw new Error('credentials did not change as asked');
  }
  if (id.uid !== 0) {
    let regained = true;
    try {
      process.setuid(0);
    } catch {
      regained = false;
    }
    if (regained) throw new Error('could become root again after dropping privileges');
  }
}

async function serve(fs: LocalUserFs, req: HelperRequest): Promise<HelperResult> {
  if (req.op === 'remove') {
    await fs.remove(req.anchor, req.rel);
    return { kind: 'done' };
  }
  if (req.op === 'replace') {
    await fs.replace(req.anchor, req.rel, Buffer.from(req.data, 'base64'), { mode: req.mode });
    return { kind: 'done' };
  }
  const r = await fs.read(req.anchor, req.rel, req.options);
  if (!r) return { kind: 'missing' };
  if (r.kind === 'bytes') return { kind: 'bytes', info: r.info, data: r.bytes.toString('base64') };
  return r;
}

/** The helper's main: never returns until stdin closes; exits non-zero when it cannot drop privileges. */
export async function runUserFsHelper(argv: readonly string[]): Promise<void> {
  try {
    dropPrivileges(parseHelperArgs(argv));
  } catch (err) {
    process.stderr.write(`heimdall userfs helper: ${(err as Error).message}\n`);
    process.exit(70);
  }
  const fs = new LocalUserFs();
  const reader = new FrameReader();
  const out = process.stdout;
  for await (const chunk of process.stdin) {
    let requests: unknown[];
    try {
      requests = reader.push(chunk as Buffer);
    } catch (err) {
      process.stderr.write(`heimdall userfs helper: ${(err as Error).message}\n`);
      process.exit(65);
    }
    for (const raw of requests) {
      const req = raw as HelperRequest;
      let res: HelperResponse;
      try {
        res = { id: req.id, ok: true, result: await serve(fs, req) };
      } catch (err) {
        res = err instanceof UserFsError ? { id: req.id, ok: false, code: err.code, message: err.message } : { id: req.id, ok: false, code: 'io', message: (err as Error).message };
      }
      if (!out.write(encodeFrame(res))) await new Promise((r) => out.once('drain', r));
    }
  }
}
