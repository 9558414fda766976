// The admin token (issue 15, attack 7): its one plaintext copy is the 0600 file in the data dir that
// the local CLI reads; the database keeps only its hash, which the admin API checks. It is never
// printed, and rotating it replaces the file and the hash together.
//
// Replicas (issue 21): each request is checked against the hash in the shared database, not a copy
// held per process, so a rotation on any replica takes effect on every replica at once. The hash is
// one row read by its key, as cheap as the version check a cache would need, and admin requests are
// few: no cache, so no window in which a rotated-away token still works somewhere. A token a rotation
// replaced is remembered as retired: a replica starting with a stale file refuses to start rather
// than bring the old token back.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { writeFileAtomic } from '../../../lib/index.ts';
import { hashSecret, newAdminToken } from '../control/index.ts';
import { ADMIN_TOKEN_FILE } from '../data-dir-files.ts';
import type { GatewayStore } from '../store/index.ts';

export class AdminToken {
  readonly file: string;
  readonly #store: GatewayStore;
  readonly #rotated = new Set<() => Promise<void> | void>();

  constructor(dataDir: string, store: GatewayStore) {
    this.file = path.join(dataDir, ADMIN_TOKEN_FILE);
    this.#store = store;
  }

  /**
   * Reads the file, or creates it when missing (a lost token is replaced by deleting the file and
   * restarting), and stores its hash. Returns whether this start created it, and whether the file's
   * token replaced another one in the database (a new token in the file, or in the Secret every
   * replica mounts: a rotation, so the console sessions of the old one end).
   */
  async load(): Promise<{ created: boolean; replaced: boolean }> {
    let created = false;
    let token: string;
    if (existsSync(this.file)) {
      token = readFileSync(this.file, 'utf8').trim();
      if (token.length < 32) throw new Error(`${this.file} does not hold an admin token; delete it to have a new one generated at the next start`);
    } else {
      token = newAdminToken();
      await writeFileAtomic(this.file, `${token}\n`, { mode: 0o600 });
      created = true;
    }
    const hash = hashSecret(token);
    if (await this.#store.adminTokenRetired(hash)) {
      throw new Error(
        `${this.file} holds an admin token that was rotated away (on this or another replica sharing the database): ` +
          'put the current token in it (every replica mounts the same token file), or delete it to have a new one generated at this start',
      );
    }
    const stored = await this.#store.adminTokenHash();
    if (stored === hash) return { created, replaced: false };
    await this.#store.setAdminTokenHash(hash);
    return { created, replaced: stored !== undefined };
  }

  /** Whether `token` is the admin token now (constant time), as the shared database says. Throws when the database cannot answer. */
  async verify(token: string): Promise<boolean> {
    const stored = await this.#store.adminTokenHash();
    if (stored === undefined) return false;
    return timingSafeEqual(Buffer.from(hashSecret(token), 'hex'), Buffer.from(stored, 'hex'));
  }

  /** A new token: written to the file (0600), its hash stored; the old one stops working at once, on every replica. */
  async rotate(): Promise<string> {
    const token = newAdminToken();
    await writeFileAtomic(this.file, `${token}\n`, { mode: 0o600 });
    await this.#store.setAdminTokenHash(hashSecret(token));
    for (const listener of this.#rotated) await listener();
    return token;
  }

  /**
   * Calls `listener` after every rotation. A rotation usually answers a leaked token: what was
   * signed in with the old one (console sessions) must end with it.
   */
  onRotate(listener: () => Promise<void> | void): void {
    this.#rotated.add(listener);
  }
}
