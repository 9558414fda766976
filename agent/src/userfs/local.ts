// The walk and the file work themselves, in this process and with its credentials: the helper
// process runs this after dropping to the user's, and the daemon runs it directly when it already
// is that user (development, a single-user daemon) or on an OS without credentials to drop.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { streamJsonSelection } from './json-paths.ts';
import { UserFsError, type FileInfo, type ReadOptions, type ReadResult, type UserFs } from './types.ts';
import { classifyOpenError, components, walkFor, type OpenDir, type Walker } from './walk.ts';

function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}

export interface LocalUserFsOptions {
  /** The walk (default: this OS's, walk.ts walkFor). */
  walker?: Walker;
  /** Tests: runs after the folder was walked and opened, before anything is done in it. */
  afterWalk?: (dir: OpenDir) => Promise<void>;
}

export class LocalUserFs implements UserFs {
  readonly #walk: Walker;
  readonly #afterWalk: ((dir: OpenDir) => Promise<void>) | undefined;

  constructor(options: LocalUserFsOptions = {}) {
    this.#walk = options.walker ?? walkFor();
    this.#afterWalk = options.afterWalk;
  }

  async #openDir(anchor: string, parts: readonly string[]): Promise<OpenDir | undefined> {
    const dir = await this.#walk.openDir(anchor, parts);
    if (dir && this.#afterWalk) await this.#afterWalk(dir);
    return dir;
  }

  async read(anchor: string, rel: string, options: ReadOptions): Promise<ReadResult | undefined> {
    const parts = components(rel);
    const name = parts.pop();
    if (name === undefined) throw new UserFsError('not-a-file', `${anchor} is a folder, not a file`);
    const dir = await this.#openDir(anchor, parts);
    if (!dir) return undefined;
    const shown = this.#walk.shown(dir, name);
    let handle;
    try {
      handle = await this.#walk.openFile(dir, name);
    } finally {
      await dir.close();
    }
    if (!handle) return undefined;
    try {
      const st = await handle.stat();
      if (!st.isFile()) throw new UserFsError('not-a-file', `${shown} is not a regular file; not read`);
      const info: FileInfo = { size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtimeMs: st.mtimeMs };
      if (st.size > options.limit) {
        if (!options.stream) return { kind: 'too-large', info };
        const stream = handle.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false });
        return { kind: 'streamed', info, doc: await streamJsonSelection(shown, stream as AsyncIterable<Buffer>, options.stream) };
      }
      try {
        return { kind: 'bytes', info, bytes: await handle.readFile() };
      } catch (err) {
        throw new UserFsError('io', `${shown}: cannot read (${errno(err)})`);
      }
    } finally {
      await handle.close();
    }
  }

  async replace(anchor: string, rel: string, data: Buffer, options: { mode: number }): Promise<void> {
    const parts = components(rel);
    const name = parts.pop();
    if (name === undefined) throw new UserFsError('not-a-file', `${anchor} is a folder, not a file`);
    const dir = await this.#openDir(anchor, parts);
    const shown = path.join(anchor, rel);
    if (!dir) throw new UserFsError('io', `${shown}: its folder is gone; not written`);
    const tmpName = `.${name}.heimdall-${randomBytes(6).toString('hex')}.tmp`;
    let created = false;
    try {
      let handle;
      try {
        handle = await this.#walk.createExclusive(dir, tmpName, options.mode);
        created = true;
      } catch (err) {
        await classifyOpenError(err, this.#walk.shown(dir, tmpName), this.#walk.shown(dir, tmpName));
        throw new UserFsError('io', `${shown}: cannot create a temporary file next to it (${errno(err)})`);
      }
      try {
        await handle.writeFile(data);
        await handle.chmod(options.mode & 0o7777); // the umask must not change a kept mode
        await handle.sync();
      } finally {
        await handle.close();
      }
      // Both names resolve inside the folder that was walked, whatever its path names now.
      await this.#walk.rename(dir, tmpName, name);
    } catch (err) {
      if (created) await this.#walk.unlink(dir, tmpName).catch(() => undefined);
      if (err instanceof UserFsError) throw err;
      throw new UserFsError(errno(err) === 'EACCES' || errno(err) === 'EPERM' ? 'denied' : 'io', `${shown}: cannot write (${errno(err)})`);
    } finally {
      await dir.close();
    }
  }

  async remove(anchor: string, rel: string): Promise<void> {
    const parts = components(rel);
    const name = parts.pop();
    if (name === undefined) throw new UserFsError('not-a-file', `${anchor} is a folder, not a file`);
    const dir = await this.#openDir(anchor, parts);
    if (!dir) return;
    try {
      // unlink removes a link itself, never its target; the name resolves inside the walked folder.
      await this.#walk.unlink(dir, name);
    } catch (err) {
      if (errno(err) === 'ENOENT') return;
      throw new UserFsError(errno(err) === 'EACCES' || errno(err) === 'EPERM' ? 'denied' : 'io', `${path.join(anchor, rel)}: cannot remove (${errno(err)})`);
    } finally {
      await dir.close();
    }
  }
}
