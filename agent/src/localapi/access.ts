// What a caller may do on a route: each route declares a permission (Tailscale's LocalAPI grants read
// or write per caller), and the server turns the kernel's answer about the caller into the view the
// handler works in. Handlers never look at who is calling themselves; they get the view.
import type { CallerLookup, LocalCaller } from './peer-credentials.ts';

export interface LocalPermission {
  /** `read` answers questions; `write` changes the daemon's state for a user. */
  access: 'read' | 'write';
  /**
   * `machine`: facts about the machine with no user's data in them, for any local caller.
   * `own`: one user's data or sign-in: a non-root caller reads or changes only their own, root all.
   */
  scope: 'machine' | 'own';
  /**
   * For `own` routes, what a caller the daemon cannot identify (no addon on this build) gets:
   * `refuse` (the default), or `no-user-data` (the machine's view with every user's data left out).
   */
  unidentified?: 'refuse' | 'no-user-data';
}

/** Whose data a handler shows or changes. */
export type CallerView =
  /** root / LocalSystem: every user. */
  | { kind: 'all'; caller: LocalCaller }
  /** An identified unprivileged caller: their own user only. */
  | { kind: 'user'; caller: LocalCaller; osUser: string }
  /** Not identified: machine facts only, no user's data. */
  | { kind: 'anonymous'; reason: string };

export type AccessDecision = { view: CallerView } | { refuse: string };

export function decideAccess(permission: LocalPermission, lookup: CallerLookup): AccessDecision {
  if ('caller' in lookup) {
    const { caller } = lookup;
    return { view: caller.privileged ? { kind: 'all', caller } : { kind: 'user', caller, osUser: caller.user } };
  }
  if (permission.scope === 'machine' || permission.unidentified === 'no-user-data') return { view: { kind: 'anonymous', reason: lookup.unknown } };
  return { refuse: lookup.unknown };
}

/** Whether a row that belongs to `osUser` (null: nobody in particular) is in the view. */
export function inView(view: CallerView, osUser: string | null | undefined): boolean {
  if (view.kind === 'all') return true;
  return view.kind === 'user' && osUser === view.osUser;
}
