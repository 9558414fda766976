// What the console's pages and actions are given: the control plane to read from, the admin API to
// change anything through (its validation and verbs, never a second write path), the hub's view of
// who is connected (on any replica), and the clock.
import type { Clock } from '../../../lib/index.ts';
import type { AdminApi } from '../admin/index.ts';
import type { ControlPlane } from '../control/index.ts';
import type { Html } from './html.ts';
import type { ConsoleSession } from './sessions.ts';

export interface ConsoleDeps {
  control: ControlPlane;
  admin: AdminApi;
  connectedDevices: () => Promise<ReadonlySet<string>>;
  clock: Clock;
}

/** A page: what it shows for this query, for this session. */
export type PageHandler = (deps: ConsoleDeps, session: ConsoleSession, url: URL) => Promise<Html>;

/** The message of an admin API error answer (`{ error: { message } }`), or a fallback. */
export function adminMessage(body: unknown): string {
  const message = (body as { error?: { message?: unknown } } | null)?.error?.message;
  return typeof message === 'string' ? message : 'the request failed; see the gateway log';
}
