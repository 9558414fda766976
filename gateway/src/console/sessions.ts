// Console sessions, kept on the server: the browser holds only a random session id in an HttpOnly
// cookie. Each session has its CSRF token, an idle and an absolute expiry (the Clock decides, so tests
// advance time instead of waiting), and the way its administrator signed in. Sessions live in the
// gateway's store (issue 21): every replica behind a load balancer knows them, so a console whose
// requests land on different replicas keeps its session. The store keys them by the id's hash only.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../../lib/index.ts';
import type { ConsoleSessionRecord, ConsoleSessionStore } from '../store/index.ts';

/** Who signed in, and how: with the admin token, or as an administrator the organization's IdP vouched for. */
export type ConsoleAdmin = { method: 'admin_token' } | { method: 'sso'; email: string; issuer: string; subject: string; userId: string };

/** Who did something in the console, as logs and audit events name them. */
export function adminName(admin: ConsoleAdmin): string {
  return admin.method === 'sso' ? admin.email : 'admin token';
}

export interface ConsoleSession {
  admin: ConsoleAdmin;
  /** Sent back in every form; a change without it is refused. */
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
  /** One message for the next page (the result of an action, or a new virtual key shown once). */
  flash: { kind: 'ok' | 'error'; text: string; secret?: string } | undefined;
}

export interface SessionLimits {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, used or not. */
  absoluteMs: number;
  /** Sessions kept at most; the least recently used goes first. */
  max: number;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = { idleMs: 30 * 60_000, absoluteMs: 12 * 3_600_000, max: 1_000 };

/** The session id as the store keys it: a hash, so the database never holds what the cookie holds. */
const key = (id: string): string => createHash('sha256').update(id).digest('hex');

type Flash = ConsoleSession['flash'];

export class ConsoleSessions {
  readonly limits: SessionLimits;
  readonly #clock: Clock;
  readonly #store: ConsoleSessionStore;

  constructor(store: ConsoleSessionStore, clock: Clock, limits: SessionLimits = DEFAULT_SESSION_LIMITS) {
    this.#store = store;
    this.#clock = clock;
    this.limits = limits;
  }

  /** A new session; returns the id for the cookie (256 random bits). The least recently used beyond the limit end. */
  async create(admin: ConsoleAdmin): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.#clock.now();
    const session: ConsoleSession = { admin, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now, flash: undefined };
    await this.#store.createConsoleSession(
      {
        idHash: key(id),
        method: admin.method,
        userId: admin.method === 'sso' ? admin.userId : null,
        adminJson: JSON.stringify(admin),
        csrfToken: session.csrfToken,
        createdAt: now,
        lastSeenAt: now,
        flashJson: null,
      },
      this.limits.max,
    );
    return { id, session };
  }

  /**
   * The live session for a cookie's id (and marks it used), or undefined when unknown or expired.
   * `takeFlash`: the page about to be shown displays the session's flash, so it is taken from the store.
   */
  async use(id: string | undefined, takeFlash = false): Promise<ConsoleSession | undefined> {
    if (!id || id.length > 128) return undefined;
    const now = this.#clock.now();
    const record = await this.#store.useConsoleSession(key(id), { now, idleBefore: now - this.limits.idleMs, createdBefore: now - this.limits.absoluteMs }, takeFlash);
    return record ? toSession(record) : undefined;
  }

  /** Keeps a message for the session's next page. */
  async setFlash(id: string, flash: Flash): Promise<void> {
    await this.#store.setConsoleFlash(key(id), flash === undefined ? null : JSON.stringify(flash));
  }

  async end(id: string | undefined): Promise<void> {
    if (id) await this.#store.endConsoleSessions({ idHash: key(id) });
  }

  /** Ends every session signed in by `method` (all of the admin token's when the token rotates), on every replica. */
  endAll(method: ConsoleAdmin['method']): Promise<number> {
    return this.#store.endConsoleSessions({ method });
  }

  /** Ends every SSO session of this gateway user (an administrator disabled them). */
  endPerson(userId: string): Promise<number> {
    return this.#store.endConsoleSessions({ userId });
  }

  size(): Promise<number> {
    return this.#store.countConsoleSessions();
  }
}

function toSession(r: ConsoleSessionRecord): ConsoleSession {
  return {
    admin: JSON.parse(r.adminJson) as ConsoleAdmin,
    csrfToken: r.csrfToken,
    createdAt: r.createdAt,
    lastSeenAt: r.lastSeenAt,
    flash: r.flashJson === null ? undefined : (JSON.parse(r.flashJson) as Flash),
  };
}

/** Whether a form's CSRF token is the session's (constant time). */
export function csrfMatches(session: ConsoleSession, sent: string | null): boolean {
  if (sent === null) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
