// Virtual keys: who holds which (by prefix), when each was last used; create one (shown once, in the
// next page's message, never stored) or revoke one.
import type { PageHandler } from './deps.ts';
import { html } from './html.ts';
import { csrfField, page, status, time } from './layout.ts';

export const keysPage: PageHandler = async (deps, session) => {
  const keys = await deps.control.listVirtualKeys();
  return page(
    session,
    '/console/keys',
    'Virtual keys',
    html`<form class="filters" method="post" action="/console/keys">${csrfField(session)}
<div><label for="user_email">User (email)</label><input type="email" id="user_email" name="user_email" required autocomplete="off"></div>
<div><label for="key-name">Name <span class="hint">(optional)</span></label><input type="text" id="key-name" name="name" maxlength="128"></div>
<button type="submit" class="primary">Create a key</button></form>
<div class="table-wrap"><table><caption>${keys.length} virtual key${keys.length === 1 ? '' : 's'}</caption>
<thead><tr><th scope="col">Key</th><th scope="col">User</th><th scope="col">Name</th><th scope="col" class="hide-narrow">Created</th><th scope="col" class="hide-narrow">Last used</th><th scope="col">Status</th><th scope="col">Revoke</th></tr></thead>
<tbody>${keys.map(
      (k) => html`<tr><td><code>${k.prefix}…</code><br><code class="muted">${k.id}</code></td><td>${k.userEmail}</td><td>${k.name ?? ''}</td><td class="hide-narrow">${time(k.createdAt)}</td><td class="hide-narrow">${time(k.lastUsedAt)}</td>
<td>${status(k.revokedAt ? 'revoked' : 'active')}</td><td>${k.revokedAt ? '' : html`<form class="inline" method="post" action="/console/keys/revoke">${csrfField(session)}<input type="hidden" name="id" value="${k.id}"><button type="submit" class="danger" data-confirm="Revoke this key? Its user is signed out of every device." aria-label="Revoke key ${k.prefix} of ${k.userEmail}">Revoke</button></form>`}</td></tr>`,
    )}</tbody></table></div>`,
  );
};
