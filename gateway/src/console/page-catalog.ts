// Apps and MCP servers: the two catalogs with their global status, fleet counts, first and last seen
// and per-user overrides; approve, deny or reset one item or the selected ones. MCP servers also show
// the apps and config scopes they appear in and one device's report of them, as the agents redacted
// it (secret values were replaced by a keyed hash on the device; env and header values never leave it).
import type { CatalogKind, McpPlacement, McpRedactedDetails } from '../store/index.ts';
import type { ConsoleDeps, PageHandler } from './deps.ts';
import { html, type Html } from './html.ts';
import { csrfField, href, page, status, time } from './layout.ts';
import type { ConsoleSession } from './sessions.ts';

const PAGE_SIZE = 100;
const STATUSES = ['pending', 'approved', 'denied'] as const;

interface KindView {
  kind: CatalogKind;
  path: '/console/apps' | '/console/mcp-servers';
  title: string;
  noun: string;
}

const VIEWS: Record<CatalogKind, KindView> = {
  app: { kind: 'app', path: '/console/apps', title: 'Apps', noun: 'app' },
  mcp: { kind: 'mcp', path: '/console/mcp-servers', title: 'MCP servers', noun: 'MCP server' },
};

function placementsOf(fingerprint: string, placements: readonly McpPlacement[]): Html {
  const mine = placements.filter((p) => p.fingerprint === fingerprint);
  if (mine.length === 0) return html`<span class="muted">no current report</span>`;
  return html`<ul class="plain">${mine.map((p) => html`<li>${p.app} · ${p.scope} (${p.devices} ${p.devices === 1 ? 'device' : 'devices'})</li>`)}</ul>`;
}

function detailsOf(d: McpRedactedDetails | undefined): Html {
  if (!d) return html``;
  return html`<details><summary>Redacted details</summary><dl class="facts">
<dt>Name</dt><dd>${d.name}</dd><dt>Transport</dt><dd>${d.transport}</dd>
${d.command ? html`<dt>Command</dt><dd><code>${[d.command, ...d.args].join(' ')}</code></dd>` : ''}
${d.url ? html`<dt>URL</dt><dd><code>${d.url}</code></dd>` : ''}
<dt>Env names</dt><dd>${d.envKeys.length > 0 ? d.envKeys.join(', ') : html`<span class="muted">none</span>`}</dd>
<dt>Header names</dt><dd>${d.headerKeys.length > 0 ? d.headerKeys.join(', ') : html`<span class="muted">none</span>`}</dd></dl></details>`;
}

async function catalogPage(deps: ConsoleDeps, session: ConsoleSession, url: URL, view: KindView): Promise<Html> {
  const wanted = url.searchParams.get('status');
  const statusFilter = STATUSES.find((s) => s === wanted);
  const q = (url.searchParams.get('q') ?? '').slice(0, 200);
  const after = url.searchParams.get('after') ?? '';
  // Ordered by id: `after` is a keyset cursor, so a page stays a page whatever is decided meanwhile.
  const { items: rows, total } = await deps.control.store.catalogPage(view.kind, { status: statusFilter, search: q || undefined, after: after || undefined, limit: PAGE_SIZE + 1 });
  const next = rows.length > PAGE_SIZE ? rows[PAGE_SIZE - 1]?.id : undefined;
  rows.splice(PAGE_SIZE);
  const mcp = view.kind === 'mcp' ? await deps.control.store.mcpPlacements(rows.map((r) => r.id)) : { placements: [], details: [] };
  const action = `${view.path}/decide`;
  const here = href(view.path, { status: statusFilter, q, after });
  const idLabel = view.kind === 'app' ? 'App' : 'MCP server';
  return page(
    session,
    view.path,
    view.title,
    html`<ul class="tabs" aria-label="Filter by status">${[undefined, ...STATUSES].map(
      (s) => html`<li><a href="${href(view.path, { status: s, q })}"${s === statusFilter ? html` aria-current="page"` : ''}>${s ?? 'all'}</a></li>`,
    )}</ul>
<form class="filters" method="get" action="${view.path}">${statusFilter ? html`<input type="hidden" name="status" value="${statusFilter}">` : ''}
<div><label for="q">Search</label><input type="text" id="q" name="q" value="${q}"></div><button type="submit">Search</button></form>
<p class="muted">${total} ${view.noun}${total === 1 ? '' : 's'}${statusFilter ? ` ${statusFilter}` : ''}${q ? ` matching “${q}”` : ''}.</p>
<form method="post" action="${action}">${csrfField(session)}<input type="hidden" name="return" value="${here}">
<div class="actions" role="group" aria-label="Decide on the selected ${view.noun}s">
<button type="submit" name="status" value="approved" class="primary">Approve selected</button>
<button type="submit" name="status" value="denied" class="danger">Deny selected</button>
<button type="submit" name="status" value="pending">Reset selected to pending</button></div>
<div class="table-wrap"><table><caption>${view.title}${statusFilter ? ` (${statusFilter})` : ''}</caption>
<thead><tr><th scope="col"><input type="checkbox" data-select-all hidden aria-label="Select all on this page"></th><th scope="col">${idLabel}</th><th scope="col">Status</th>
${view.kind === 'mcp' ? html`<th scope="col">Appears in</th>` : ''}<th scope="col" class="num">Devices</th><th scope="col" class="hide-narrow">First seen</th><th scope="col" class="hide-narrow">Last seen</th><th scope="col">Per-user</th><th scope="col">Decide</th></tr></thead>
<tbody>${rows.map((item) => {
      const name = item.displayName ?? item.id;
      const one = (s: string) => `${action}?${new URLSearchParams({ id: item.id, status: s }).toString()}`;
      return html`<tr><td><input type="checkbox" name="id" value="${item.id}" aria-label="Select ${name}"></td>
<td><a href="${href(`${view.path}/item`, { id: item.id })}">${name}</a><br><code>${item.id}</code>${view.kind === 'mcp' ? detailsOf(mcp.details.find((d) => d.fingerprint === item.id)) : ''}</td>
<td>${status(item.status)}</td>${view.kind === 'mcp' ? html`<td>${placementsOf(item.id, mcp.placements)}</td>` : ''}
<td class="num">${item.fleetCount}</td><td class="hide-narrow">${time(item.firstSeenAt)}</td><td class="hide-narrow">${time(item.lastSeenAt)}</td>
<td>${item.userDecisions.length > 0 ? html`<a href="${href(`${view.path}/item`, { id: item.id })}">${item.userDecisions.map((d) => `${d.userEmail}: ${d.status}`).join(', ')}</a>` : html`<span class="muted">none</span>`}</td>
<td><div class="actions">${item.status !== 'approved' ? html`<button type="submit" formaction="${one('approved')}" aria-label="Approve ${name}">Approve</button>` : ''}${item.status !== 'denied' ? html`<button type="submit" formaction="${one('denied')}" class="danger" aria-label="Deny ${name}">Deny</button>` : ''}</div></td></tr>`;
    })}</tbody></table></div></form>
${rows.length === 0 ? html`<p>Nothing to show.</p>` : ''}
<nav class="pager" aria-label="Pages">${after ? html`<a href="${href(view.path, { status: statusFilter, q })}">First page</a>` : ''}${next ? html`<a href="${href(view.path, { status: statusFilter, q, after: next })}">Next page</a>` : ''}</nav>`,
  );
}

async function itemPage(deps: ConsoleDeps, session: ConsoleSession, url: URL, view: KindView): Promise<Html> {
  const id = url.searchParams.get('id') ?? '';
  const item = await deps.control.store.getCatalogItem(view.kind, id);
  const back = html`<p><a href="${view.path}">Back to ${view.title}</a></p>`;
  if (!item) return page(session, view.path, `No such ${view.noun}`, html`<p>No ${view.noun} <code>${id}</code> in the catalog.</p>${back}`);
  const mcp = view.kind === 'mcp' ? await deps.control.store.mcpPlacements([item.id]) : undefined;
  const action = `${view.path}/decide`;
  const here = href(`${view.path}/item`, { id: item.id });
  return page(
    session,
    view.path,
    item.displayName ?? item.id,
    html`${back}<dl class="facts"><dt>Id</dt><dd><code>${item.id}</code></dd><dt>Status</dt><dd>${status(item.status)}</dd>
${item.app ? html`<dt>App</dt><dd>${item.app}</dd>` : ''}${item.transport ? html`<dt>Transport</dt><dd>${item.transport}</dd>` : ''}
<dt>Devices</dt><dd>${item.fleetCount}</dd><dt>First seen</dt><dd>${time(item.firstSeenAt)}</dd><dt>Last seen</dt><dd>${time(item.lastSeenAt)}</dd><dt>Decided</dt><dd>${time(item.decidedAt)}</dd>
${mcp ? html`<dt>Appears in</dt><dd>${placementsOf(item.id, mcp.placements)}</dd>` : ''}</dl>
${mcp ? detailsOf(mcp.details[0]) : ''}
<form method="post" action="${action}">${csrfField(session)}<input type="hidden" name="return" value="${here}"><input type="hidden" name="id" value="${item.id}">
<div class="actions" role="group" aria-label="Decide for everyone"><button type="submit" name="status" value="approved" class="primary">Approve</button><button type="submit" name="status" value="denied" class="danger">Deny</button><button type="submit" name="status" value="pending">Reset to pending</button></div></form>
<h2>Per-user overrides</h2>
<p class="hint">An override is that user's exception on their enrolled devices. Deny wins: an override can approve a pending item or deny an approved one, never lift a global deny.</p>
<div class="table-wrap"><table><caption>Users with an override</caption><thead><tr><th scope="col">User</th><th scope="col">Status</th><th scope="col">Decided</th><th scope="col">Remove</th></tr></thead>
<tbody>${item.userDecisions.map(
      (d) => html`<tr><td>${d.userEmail}</td><td>${status(d.status)}</td><td>${time(d.decidedAt)}</td><td><form class="inline" method="post" action="${action}">${csrfField(session)}<input type="hidden" name="return" value="${here}"><input type="hidden" name="id" value="${item.id}"><input type="hidden" name="user" value="${d.userEmail}"><button type="submit" name="status" value="pending" aria-label="Remove the override of ${d.userEmail}">Remove</button></form></td></tr>`,
    )}</tbody></table></div>
${item.userDecisions.length === 0 ? html`<p class="muted">No overrides.</p>` : ''}
<h3>Add an override</h3>
<form method="post" action="${action}">${csrfField(session)}<input type="hidden" name="return" value="${here}"><input type="hidden" name="id" value="${item.id}">
<div class="field"><label for="user">User (email)</label><input type="email" id="user" name="user" required autocomplete="off"></div>
<div class="field"><label for="override-status">Status</label><select id="override-status" name="status"><option value="approved">approved</option><option value="denied">denied</option></select></div>
<button type="submit" class="primary">Add override</button></form>`,
  );
}

export const appsPage: PageHandler = (deps, session, url) => catalogPage(deps, session, url, VIEWS.app);
export const mcpServersPage: PageHandler = (deps, session, url) => catalogPage(deps, session, url, VIEWS.mcp);
export const appItemPage: PageHandler = (deps, session, url) => itemPage(deps, session, url, VIEWS.app);
export const mcpItemPage: PageHandler = (deps, session, url) => itemPage(deps, session, url, VIEWS.mcp);
