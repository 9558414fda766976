// Virtual keys: who holds which (by prefix), when each was last used; create one (shown once, in the
// next page's message, never stored) or revoke one.
import type { PageHandler } from './deps.ts';
import { html } from './html.ts';
import { csrfField, href, page, status, time } from './layout.ts';

const PAGE_SIZE = 100;

export const keysPage: PageHandler = async (deps, session, url) => {
  const q = (url.searchParams.get('q') ?? '').slice(0, 320).toLowerCase();
  const after = url.searchParams.get('after') ?? '';
  // Keys are a few per person: the list is read whole and paged here by id (a keyset cursor).
  const all = (await deps.control.listVirtualKeys()).filter((k) => q === '' || k.userEmail.toLowerCase().includes(q)).sort((a, b) => (a.id < b.id ? -1 : 1));
  const start = after === '' ? 0 : all.findIndex((k) => k.id > after);
  const keys = start < 0 ? [] : all.slice(start, start + PAGE_SIZE);
  const next = start >= 0 && start + PAGE_SIZE < all.length ? keys[keys.length - 1]?.id : undefined;
  return page(
    session,
    '/console/keys',
    'Virtual keys',
    html`<form class="filters" method="post" action="/console/keys">${csrfField(session)}
<div><label for="user_email">User (email)</label><input type="email" id="user_email" name="user_email" required autocomplete="off"></div>
<div><label for="key-name">Name <span class="hint">(optional)</span></label><input type="text" id="key-name" name="name" maxlength="128"></div>
<button type="submit" class="primary">Create a key</button></form>
<form class="filters" method="get" action="/console/keys"><div><label for="q">User</label><input type="text" id="q" name="q" value="${q}"></div><button type="submit">Search</button></form>
<div class="table-wrap"><table><caption>${all.length} virtual key${all.length === 1 ? '' : 's'}${q ? ' matching the search' : ''}</caption>
<thead><tr><th scope="col">Key</th><th scope="col">User</th><th scope="col">Name</th><th scope="col" class="hide-narrow">Created</th><th scope="col" class="hide-narrow">Last used</th><th scope="col">Status</th><th scope="col">Revoke</th></tr></thead>
<tbody>${keys.map(
      (k) => html`<tr><td><code>${k.prefix}…</code><br><code class="muted">${k.id}</code></td><td>${k.userEmail}</td><td>${k.name ?? ''}</td><td class="hide-narrow">${time(k.createdAt)}</td><td class="hide-narrow">${time(k.lastUsedAt)}</td>
<td>${status(k.revokedAt ? 'revoked' : 'active')}</td><td>${k.revokedAt ? '' : html`<form class="inline" method="post" action="/console/keys/revoke">${csrfField(session)}<input type="hidden" name="id" value="${k.id}"><button type="submit" class="danger" data-confirm="Revoke this key? Its user is signed out of every device." aria-label="Revoke key ${k.prefix} of ${k.userEmail}">Revoke</button></form>`}</td></tr>`,
    )}</tbody></table></div>
<nav class="pager" aria-label="Pages">${after ? html`<a href="${href('/console/keys', { q })}">First page</a>` : ''}${next ? html`<a href="${href('/console/keys', { q, after: next })}">Next page</a>` : ''}</nav>`,
  );
};
