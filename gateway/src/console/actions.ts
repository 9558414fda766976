// The console's changes, one row per form: each turns the form into the admin API call a CLI would
// make and runs it through the admin API itself (same schemas, same control-plane verbs, same push to
// agents), then says what happened in the next page's message.
import type { ConsoleDeps } from './deps.ts';
import { adminMessage } from './deps.ts';
import type { ConsoleSession } from './sessions.ts';

/** At most this many items in one bulk decision (a page shows 100). */
const MAX_BULK = 500;

export interface ActionResult {
  flash: NonNullable<ConsoleSession['flash']>;
  /** Where the browser goes next (a console path). */
  returnTo: string;
}

type Action = (deps: ConsoleDeps, form: URLSearchParams, url: URL) => Promise<ActionResult>;

/** A return path from the form, if it is a console page of this origin; `fallback` otherwise. */
function returnPath(form: URLSearchParams, fallback: string): string {
  const wanted = form.get('return') ?? '';
  return /^\/console(\/[^\\]*)?$/.test(wanted) && !wanted.startsWith('//') && !wanted.includes('//') ? wanted : fallback;
}

const ok = (text: string, returnTo: string): ActionResult => ({ flash: { kind: 'ok', text }, returnTo });
const failed = (text: string, returnTo: string): ActionResult => ({ flash: { kind: 'error', text }, returnTo });

const VERB: Record<string, string> = { approved: 'Approved', denied: 'Denied', pending: 'Reset to pending' };

function decide(kind: 'app' | 'mcp'): Action {
  const base = kind === 'app' ? 'apps' : 'mcp-servers';
  const noun = kind === 'app' ? 'app' : 'MCP server';
  return async (deps, form, url) => {
    const back = returnPath(form, `/console/${base}`);
    // A row's own button names its item in the action's query; the bulk buttons send the checked rows.
    const one = url.searchParams.get('id');
    const ids = one !== null ? [one] : form.getAll('id');
    const status = url.searchParams.get('status') ?? form.get('status') ?? '';
    const user = (form.get('user') ?? '').trim();
    if (ids.length === 0) return failed(`Select at least one ${noun} first.`, back);
    if (ids.length > MAX_BULK) return failed(`At most ${MAX_BULK} ${noun}s at once; ${ids.length} were selected.`, back);
    const done: string[] = [];
    for (const id of ids) {
      const r = await deps.admin.call('POST', `${base}/${encodeURIComponent(id)}/decision`, { status, ...(user ? { user } : {}) });
      if (r.status !== 200) {
        const progress = done.length > 0 ? ` (${done.length} done before it)` : '';
        return failed(`${noun} ${id}: ${adminMessage(r.body)}${progress}`, back);
      }
      done.push(id);
    }
    const what = done.length === 1 ? `${noun} ${done[0]!}` : `${done.length} ${noun}s`;
    return ok(`${VERB[status] ?? status}: ${what}${user ? ` for ${user}` : ''}. Connected agents get the new policy now.`, back);
  };
}

const ACTIONS: Record<string, Action> = {
  '/console/apps/decide': decide('app'),
  '/console/mcp-servers/decide': decide('mcp'),

  '/console/devices/revoke': async (deps, form) => {
    const back = returnPath(form, '/console/devices');
    const id = form.get('id') ?? '';
    const r = await deps.admin.call('POST', `devices/${encodeURIComponent(id)}/revoke`);
    if (r.status !== 200) return failed(adminMessage(r.body), back);
    const device = r.body as { hostname: string; revoked_key_ids: string[] };
    return ok(`Revoked ${device.hostname}: disconnected, and ${device.revoked_key_ids.length} virtual key(s) signed in on it revoked.`, back);
  },

  '/console/settings': async (deps, form) => {
    const bool = (name: string) => {
      const v = form.get(name);
      return v === 'true' ? true : v === 'false' ? false : (v ?? undefined);
    };
    const resync = form.get('full_resync_s') ?? '';
    const patch = {
      pending_action: form.get('pending_action') ?? undefined,
      fail_mode: form.get('fail_mode') ?? undefined,
      intercept: bool('intercept'),
      allow_direct_keys: bool('allow_direct_keys'),
      // A number when it is one; otherwise as typed, so the admin API names what it accepts.
      full_resync_s: /^\d{1,9}$/.test(resync) ? Number(resync) : resync === '' ? undefined : resync,
    };
    const r = await deps.admin.call('PATCH', 'settings', Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)));
    return r.status === 200 ? ok('Settings saved. Connected agents get them now.', '/console/settings') : failed(adminMessage(r.body), '/console/settings');
  },

  '/console/settings/routing': async (deps, form) => {
    const app = (form.get('app') ?? '').trim();
    const mode = form.get('mode') ?? '';
    const r = await deps.admin.call('PATCH', 'settings', { routing: { [app]: mode === 'default' ? null : mode } });
    if (r.status !== 200) return failed(adminMessage(r.body), '/console/settings');
    return ok(mode === 'default' ? `${app} is back to the default mode (gateway).` : `${app} now uses ${mode} mode.`, '/console/settings');
  },

  '/console/ca/generate': async (deps) => {
    const r = await deps.admin.call('POST', 'ca/generate', {});
    if (r.status !== 201) return failed(adminMessage(r.body), '/console/settings');
    return ok(`CA generated: SHA-256 ${(r.body as { fingerprint_sha256: string }).fingerprint_sha256}. Deploy it to devices with your MDM.`, '/console/settings');
  },

  '/console/keys': async (deps, form) => {
    const name = (form.get('name') ?? '').trim();
    const r = await deps.admin.call('POST', 'keys', { user_email: (form.get('user_email') ?? '').trim(), ...(name ? { name } : {}) });
    if (r.status !== 201) return failed(adminMessage(r.body), '/console/keys');
    const key = r.body as { key: string; user: { email: string } };
    // The key exists outside its holder only here: shown once, in the next page, then forgotten.
    return { flash: { kind: 'ok', text: `Key created for ${key.user.email}. Copy it now: it is not shown again.`, secret: key.key }, returnTo: '/console/keys' };
  },

  '/console/keys/revoke': async (deps, form) => {
    const r = await deps.admin.call('POST', `keys/${encodeURIComponent(form.get('id') ?? '')}/revoke`);
    if (r.status !== 200) return failed(adminMessage(r.body), '/console/keys');
    return ok(`Key ${(r.body as { prefix: string }).prefix}… revoked: its user is signed out of every device.`, '/console/keys');
  },
};

export function findAction(pathname: string): Action | undefined {
  return Object.hasOwn(ACTIONS, pathname) ? ACTIONS[pathname] : undefined;
}
