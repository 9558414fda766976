// Events: what agents sent and what the gateway recorded, newest first, filtered by device, user,
// app and type, paged by id (keyset: `before`), so the 100th page costs what the first does. The query
// goes through the admin API, which validates it and names the person each event belongs to.
import { adminMessage, type PageHandler } from './deps.ts';
import { html } from './html.ts';
import { href, page, time } from './layout.ts';

const PAGE_SIZE = 50;
const FILTERS = ['device', 'user', 'app', 'type', 'since'] as const;

interface EventJson {
  id: number;
  source: string;
  device_id: string | null;
  type: string;
  at: string;
  app: string | null;
  os_user: string | null;
  user_email: string | null;
  attrs: Record<string, unknown>;
}

/** Attributes as `name=value` pairs (values agents sent; escaped when rendered). */
const describe = (attrs: Record<string, unknown>): string =>
  Object.entries(attrs)
    .filter(([, v]) => v !== null && v !== '')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');

export const eventsPage: PageHandler = async (deps, session, url) => {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, (url.searchParams.get(f) ?? '').trim()])) as Record<(typeof FILTERS)[number], string>;
  const before = url.searchParams.get('before') ?? '';
  const query = href('events', { ...filters, before, limit: PAGE_SIZE });
  const answer = await deps.admin.call('GET', query);
  const ok = answer.status === 200;
  const body = answer.body as { events: EventJson[]; next_before: number | null };
  const events = ok ? body.events : [];
  return page(
    session,
    '/console/events',
    'Events',
    html`<form class="filters" method="get" action="/console/events">
<div><label for="f-device">Device id</label><input type="text" id="f-device" name="device" value="${filters.device}"></div>
<div><label for="f-user">User (email)</label><input type="text" id="f-user" name="user" value="${filters.user}"></div>
<div><label for="f-app">App</label><input type="text" id="f-app" name="app" value="${filters.app}"></div>
<div><label for="f-type">Type</label><input type="text" id="f-type" name="type" value="${filters.type}" placeholder="request, block, inference, mcp.enforcement"></div>
<div><label for="f-since">Since <span class="hint">(RFC 3339)</span></label><input type="text" id="f-since" name="since" value="${filters.since}" placeholder="2026-01-31T00:00:00Z"></div>
<button type="submit">Filter</button></form>
${ok ? '' : html`<div class="flash error" role="alert">${adminMessage(answer.body)}</div>`}
<div class="table-wrap"><table><caption>Events, newest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Type</th><th scope="col">App</th><th scope="col">User</th><th scope="col" class="hide-narrow">Device</th><th scope="col">Details</th></tr></thead>
<tbody>${events.map(
      (e) => html`<tr><td>${time(e.at)}</td><td>${e.type}<br><span class="muted">${e.source}</span></td><td>${e.app ?? ''}</td>
<td>${e.user_email ?? ''}${e.os_user ? html` <span class="muted">(${e.os_user})</span>` : ''}</td><td class="hide-narrow">${e.device_id ? html`<a href="${href('/console/events', { device: e.device_id })}"><code>${e.device_id}</code></a>` : ''}</td>
<td><code>${describe(e.attrs)}</code></td></tr>`,
    )}</tbody></table></div>
${ok && events.length === 0 ? html`<p>No events${Object.values(filters).some(Boolean) ? ' match the filter' : ''}.</p>` : ''}
<nav class="pager" aria-label="Pages">${before ? html`<a href="${href('/console/events', filters)}">Newest</a>` : ''}${ok && body.next_before !== null ? html`<a href="${href('/console/events', { ...filters, before: body.next_before })}">Older</a>` : ''}</nav>`,
  );
};
