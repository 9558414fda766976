// Console sessions, kept on the server: the browser holds only a random session id in an HttpOnly
// cookie. Each session has its CSRF token, an idle and an absolute expiry (the Clock decides, so tests
// advance time instead of waiting), and the way its administrator signed in. The store is in memory:
// a restart signs everyone out, which for a handful of administrators is a feature, not a loss.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../../lib/index.ts';

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

/** The session id as the store keys it: a hash, so the map never holds what the cookie holds. */
const key = (id: string): string => createHash('sha256').update(id).digest('hex');

export class ConsoleSessions {
  readonly limits: SessionLimits;
  readonly #clock: Clock;
  // Insertion order is use order (a used session is moved to the end): the first is the least recently used.
  readonly #sessions = new Map<string, ConsoleSession>();

  constructor(clock: Clock, limits: SessionLimits = DEFAULT_SESSION_LIMITS) {
    this.#clock = clock;
    this.limits = limits;
  }

  /** A new session; returns the id for the cookie (256 random bits). */
  create(admin: ConsoleAdmin): { id: string; session: ConsoleSession } {
    const id = randomBytes(32).toString('base64url');
    const now = this.#clock.now();
    const session: ConsoleSession = { admin, csrfToken: randomBytes(32).toString('base64url'), createdAt: now, lastSeenAt: now, flash: undefined };
    this.#sessions.set(key(id), session);
    while (this.#sessions.size > this.limits.max) this.#sessions.delete(this.#sessions.keys().next().value!);
    return { id, session };
  }

  /** The live session for a cookie's id (and marks it used), or undefined when unknown or expired. */
  use(id: string | undefined): ConsoleSession | undefined {
    if (!id || id.length > 128) return undefined;
    const k = key(id);
    const session = this.#sessions.get(k);
    if (!session) return undefined;
    const now = this.#clock.now();
    if (now - session.lastSeenAt >= this.limits.idleMs || now - session.createdAt >= this.limits.absoluteMs) {
      this.#sessions.delete(k);
      return undefined;
    }
    session.lastSeenAt = now;
    this.#sessions.delete(k);
    this.#sessions.set(k, session);
    return session;
  }

  end(id: string | undefined): void {
    if (id) this.#sessions.delete(key(id));
  }

  /** Ends every session signed in by `method` (all of the admin token's when the token rotates). */
  endAll(method: ConsoleAdmin['method']): number {
    let ended = 0;
    for (const [k, s] of this.#sessions) {
      if (s.admin.method !== method) continue;
      this.#sessions.delete(k);
      ended++;
    }
    return ended;
  }

  /** Ends every SSO session of this gateway user (an administrator disabled them). */
  endPerson(userId: string): number {
    let ended = 0;
    for (const [k, s] of this.#sessions) {
      if (s.admin.method !== 'sso' || s.admin.userId !== userId) continue;
      this.#sessions.delete(k);
      ended++;
    }
    return ended;
  }

  get size(): number {
    return this.#sessions.size;
  }
}

/** Whether a form's CSRF token is the session's (constant time). */
export function csrfMatches(session: ConsoleSession, sent: string | null): boolean {
  if (sent === null) return false;
  const a = Buffer.from(sent);
  const b = Buffer.from(session.csrfToken);
  return a.length === b.length && timingSafeEqual(a, b);
}
