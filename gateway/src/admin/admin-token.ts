// The admin token (issue 15, attack 7): its one plaintext copy is the 0600 file in the data dir that
// the local CLI reads; the database keeps only its hash, which the admin API checks. It is never
// printed, and rotating it replaces the file and the hash together.
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
  #hash: Buffer | undefined;
  readonly #rotated = new Set<() => void>();

  constructor(dataDir: string, store: GatewayStore) {
    this.file = path.join(dataDir, ADMIN_TOKEN_FILE);
    this.#store = store;
  }

  /**
   * Reads the file, or creates it when missing (a lost token is replaced by deleting the file and
   * restarting), and stores its hash. Returns whether this start created it.
   */
  async load(): Promise<{ created: boolean }> {
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
    await this.#remember(hashSecret(token));
    return { created };
  }

  /** Whether `token` is the admin token (constant time). */
  verify(token: string): boolean {
    if (!this.#hash) return false;
    return timingSafeEqual(Buffer.from(hashSecret(token), 'hex'), this.#hash);
  }

  /** A new token: written to the file (0600), its hash stored; the old one stops working at once. */
  async rotate(): Promise<string> {
    const token = newAdminToken();
    await writeFileAtomic(this.file, `${token}\n`, { mode: 0o600 });
    await this.#remember(hashSecret(token));
    for (const listener of this.#rotated) listener();
    return token;
  }

  /**
   * Calls `listener` after every rotation. A rotation usually answers a leaked token: what was
   * signed in with the old one (console sessions) must end with it.
   */
  onRotate(listener: () => void): void {
    this.#rotated.add(listener);
  }

  async #remember(hash: string): Promise<void> {
    await this.#store.setAdminTokenHash(hash);
    this.#hash = Buffer.from(hash, 'hex');
  }
}
