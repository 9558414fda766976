// Chooses, per user, who does the file work: a helper that has become that user when the daemon is
// root and the user is someone else, or this process when it already is the user (development, a
// daemon for one user) or the OS has no uid to drop to (Windows: impersonation, see windows.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Clock } from '../../../lib/index.ts';
import { HelperUserFs, type HelperCommand } from './client.ts';
import type { HelperIdentity } from './helper.ts';
import { LocalUserFs } from './local.ts';
import type { FsUser, ReadOptions, ReadResult, UserFs } from './types.ts';

export interface UserFsPoolOptions {
  idleMs?: number;
  clock?: Clock;
  /** Tests: start helpers with this command instead of the agent's own entry. */
  command?: (id: HelperIdentity) => HelperCommand;
  /** Tests and benchmarks: use a helper even for this process's own user. */
  alwaysHelper?: boolean;
}

/** Supplementary groups from the system's user database (NSS included); none when the uid is unknown there. */
export async function supplementaryGroups(uid: number): Promise<number[]> {
  try {
    const { stdout } = await promisify(execFile)('id', ['-G', '--', String(uid)], { timeout: 5000 });
    return stdout.trim().split(/\s+/).filter(Boolean).map(Number).filter((g) => Number.isInteger(g) && g >= 0);
  } catch {
    return [];
  }
}

/** A UserFs for one user that looks up the user's groups once, when the helper is first needed. */
class LazyHelper implements UserFs {
  #fs: Promise<HelperUserFs> | undefined;
  readonly user: FsUser;
  readonly #options: UserFsPoolOptions;
  constructor(user: FsUser, options: UserFsPoolOptions) {
    this.user = user;
    this.#options = options;
  }

  #get(): Promise<HelperUserFs> {
    this.#fs ??= supplementaryGroups(this.user.uid).then((groups) => {
      const id: HelperIdentity = { uid: this.user.uid, gid: this.user.gid, groups };
      const { command, idleMs, clock } = this.#options;
      return new HelperUserFs(id, { ...(idleMs !== undefined ? { idleMs } : {}), ...(clock ? { clock } : {}), ...(command ? { command: command(id) } : {}) });
    });
    return this.#fs;
  }

  async read(anchor: string, rel: string, options: ReadOptions): Promise<ReadResult | undefined> {
    return (await this.#get()).read(anchor, rel, options);
  }

  async replace(anchor: string, rel: string, data: Buffer, options: { mode: number }): Promise<void> {
    return (await this.#get()).replace(anchor, rel, data, options);
  }

  async remove(anchor: string, rel: string): Promise<void> {
    return (await this.#get()).remove(anchor, rel);
  }

  async close(): Promise<void> {
    if (this.#fs) await (await this.#fs).close();
  }
}

export class UserFsPool {
  readonly #o: UserFsPoolOptions;
  readonly #local = new LocalUserFs();
  readonly #helpers = new Map<number, LazyHelper>();

  constructor(options: UserFsPoolOptions = {}) {
    this.#o = options;
  }

  /** Whether file work for `user` runs in a helper that has become that user. */
  usesHelper(user: FsUser): boolean {
    if (process.platform === 'win32' || typeof process.getuid !== 'function' || user.uid < 0 || user.gid < 0) return false;
    if (this.#o.alwaysHelper) return true;
    return process.getuid() === 0 && user.uid !== 0;
  }

  forUser(user: FsUser): UserFs {
    if (!this.usesHelper(user)) return this.#local;
    let h = this.#helpers.get(user.uid);
    if (!h || h.user.gid !== user.gid) {
      void h?.close();
      h = new LazyHelper(user, this.#o);
      this.#helpers.set(user.uid, h);
    }
    return h;
  }

  /** Ends every helper. */
  async close(): Promise<void> {
    const all = [...this.#helpers.values()];
    this.#helpers.clear();
    await Promise.all(all.map((h) => h.close()));
  }
}
