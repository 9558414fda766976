// Chooses, per user, who does the file work: a helper that has become that user when the daemon is
// root (or LocalSystem) and the user is someone else, or this process when it already is the user
// (development, a daemon for one user). On Windows the helper is started with the user's token
// (windows.ts); without the addon or the user's SID, file work for another user is refused.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import type { Clock } from '../../../lib/index.ts';
import { loadSockdiagAddon } from '../lib/sockdiag-addon.ts';
import { HelperUserFs, type HelperCommand } from './client.ts';
import type { HelperIdentity } from './helper.ts';
import { LocalUserFs } from './local.ts';
import { UserFsError, type FsUser, type ReadOptions, type ReadResult, type UserFs } from './types.ts';
import { windowsHelperSpawner, type SpawnAsUser } from './windows.ts';

export interface UserFsPoolOptions {
  idleMs?: number;
  clock?: Clock;
  /** Tests: start helpers with this command instead of the agent's own entry. */
  command?: (id: HelperIdentity) => HelperCommand;
  /** Tests and benchmarks: use a helper even for this process's own user. */
  alwaysHelper?: boolean;
  /** The platform's rules (tests); default process.platform. */
  platform?: NodeJS.Platform;
  /** Windows: the addon's spawnAsUser; default the loaded addon's (undefined: refuse other users). */
  spawnAsUser?: SpawnAsUser;
  /** Windows: the daemon's own account name (tests); default os.userInfo().username. */
  selfName?: string;
}

/** File work that cannot be done as the user, refused with the reason (never done as the daemon). */
class RefusingUserFs implements UserFs {
  readonly #why: string;
  constructor(why: string) {
    this.#why = why;
  }
  read(): Promise<ReadResult | undefined> {
    return Promise.reject(new UserFsError('helper', this.#why));
  }
  replace(): Promise<void> {
    return Promise.reject(new UserFsError('helper', this.#why));
  }
  remove(): Promise<void> {
    return Promise.reject(new UserFsError('helper', this.#why));
  }
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
  readonly #options: UserFsPoolOptions & { windows?: { spawnAsUser: SpawnAsUser; sid: string } };
  constructor(user: FsUser, options: UserFsPoolOptions & { windows?: { spawnAsUser: SpawnAsUser; sid: string } }) {
    this.user = user;
    this.#options = options;
  }

  #get(): Promise<HelperUserFs> {
    if (this.#fs) return this.#fs;
    const { windows } = this.#options;
    if (windows) {
      const id: HelperIdentity = { uid: -1, gid: -1, groups: [], windowsUser: this.user.name };
      const { command, idleMs, clock } = this.#options;
      this.#fs = Promise.resolve(
        new HelperUserFs(id, {
          ...(idleMs !== undefined ? { idleMs } : {}),
          ...(clock ? { clock } : {}),
          ...(command ? { command: command(id) } : {}),
          spawn: windowsHelperSpawner(windows.spawnAsUser, windows.sid),
        }),
      );
      return this.#fs;
    }
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
  readonly #helpers = new Map<number | string, LazyHelper>();

  constructor(options: UserFsPoolOptions = {}) {
    this.#o = options;
  }

  #platform(): NodeJS.Platform {
    return this.#o.platform ?? process.platform;
  }

  /** Whether file work for `user` runs in a helper that is that user. */
  usesHelper(user: FsUser): boolean {
    if (this.#platform() === 'win32') return this.#o.alwaysHelper === true || user.name.toLowerCase() !== (this.#o.selfName ?? os.userInfo().username).toLowerCase();
    if (typeof process.getuid !== 'function' || user.uid < 0 || user.gid < 0) return false;
    if (this.#o.alwaysHelper) return true;
    return process.getuid() === 0 && user.uid !== 0;
  }

  forUser(user: FsUser): UserFs {
    if (!this.usesHelper(user)) return this.#local;
    if (this.#platform() === 'win32') return this.#forWindowsUser(user);
    let h = this.#helpers.get(user.uid);
    if (!h || h.user.gid !== user.gid) {
      void h?.close();
      h = new LazyHelper(user, this.#o);
      this.#helpers.set(user.uid, h);
    }
    return h;
  }

  #forWindowsUser(user: FsUser): UserFs {
    const spawnAsUser = this.#o.spawnAsUser ?? (loadSockdiagAddon()?.['spawnAsUser'] as SpawnAsUser | undefined);
    if (!spawnAsUser) return new RefusingUserFs(`no native addon to start a process as ${user.name}: file work under their profile is refused rather than done as SYSTEM`);
    if (!user.sid) return new RefusingUserFs(`${user.name} has no SID in the profile list: file work under their profile is refused rather than done as SYSTEM`);
    const key = `sid:${user.sid}`;
    let h = this.#helpers.get(key);
    if (!h) {
      h = new LazyHelper(user, { ...this.#o, windows: { spawnAsUser, sid: user.sid } });
      this.#helpers.set(key, h);
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
