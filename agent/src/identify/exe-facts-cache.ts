// Facts about an executable file (code signature, signer) that are slow to learn and change only
// when the file does: cached per path + size + mtime, computed once even when asked concurrently.
import { stat } from 'node:fs/promises';

export type FileStamp = (file: string) => Promise<string | undefined>;

/** size + mtime of a file, or undefined when it cannot be stat'ed. */
export const statStamp: FileStamp = async (file) => {
  try {
    const st = await stat(file);
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return undefined;
  }
};

export class ExeFactsCache<T> {
  readonly #entries = new Map<string, Promise<T>>();
  readonly #limit: number;
  readonly #stamp: FileStamp;

  constructor(options: { limit?: number; stamp?: FileStamp } = {}) {
    this.#limit = options.limit ?? 512;
    this.#stamp = options.stamp ?? statStamp;
  }

  /** The cached facts for `file`, computing them when the file is new or changed; unstat'able files are not cached. */
  async get(file: string, compute: () => Promise<T>): Promise<T> {
    const stamp = await this.#stamp(file);
    if (stamp === undefined) return compute();
    const key = `${file}\0${stamp}`;
    const hit = this.#entries.get(key);
    if (hit) return hit;
    const pending = compute();
    this.#entries.set(key, pending);
    if (this.#entries.size > this.#limit) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    pending.catch(() => {
      this.#entries.delete(key);
    });
    return pending;
  }
}
