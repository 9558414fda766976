// Devices: hostname, owner, OS, agent version, last seen, connected, and revoke; a search and an OS
// filter over pages of 100 with a keyset cursor (hostname, id), so 10,000 devices cost one page each.
import type { PageHandler } from './deps.ts';
import { html } from './html.ts';
import { csrfField, href, page, status, time } from './layout.ts';

const PAGE_SIZE = 100;

export const devicesPage: PageHandler = async (deps, session, url) => {
  const q = (url.searchParams.get('q') ?? '').slice(0, 200);
  const os = (url.searchParams.get('os') ?? '').slice(0, 64);
  const afterHost = url.searchParams.get('after_host');
  const afterId = url.searchParams.get('after_id');
  const after = afterHost !== null && afterId !== null ? { hostname: afterHost, id: afterId } : undefined;
  const [rows, connected] = await Promise.all([deps.control.store.devicePage({ search: q || undefined, os: os || undefined, after, limit: PAGE_SIZE + 1 }), deps.connectedDevices()]);
  const shown = rows.slice(0, PAGE_SIZE);
  const last = shown[shown.length - 1];
  const here = href('/console/devices', { q, os, after_host: afterHost, after_id: afterId });
  return page(
    session,
    '/console/devices',
    'Devices',
    html`<form class="filters" method="get" action="/console/devices">
<div><label for="q">Hostname or owner</label><input type="text" id="q" name="q" value="${q}"></div>
<div><label for="os">OS</label><input type="text" id="os" name="os" value="${os}" placeholder="linux, darwin, windows"></div>
<button type="submit">Filter</button></form>
<div class="table-wrap"><table><caption>Devices${q || os ? ' matching the filter' : ''}, by hostname</caption>
<thead><tr><th scope="col">Hostname</th><th scope="col">Owner</th><th scope="col">OS</th><th scope="col" class="hide-narrow">Agent</th><th scope="col" class="hide-narrow">Last seen</th><th scope="col">Status</th><th scope="col">Revoke</th></tr></thead>
<tbody>${shown.map((d) => {
      const state = d.revokedAt ? 'revoked' : connected.has(d.id) ? 'connected' : 'offline';
      return html`<tr><td>${d.hostname}<br><code>${d.id}</code></td><td>${d.ownerEmail}</td><td>${d.os}${d.osVersion ? ` ${d.osVersion}` : ''}${d.arch ? ` (${d.arch})` : ''}</td>
<td class="hide-narrow">${d.agentVersion ?? html`<span class="muted">unknown</span>`}</td><td class="hide-narrow">${time(d.lastSeenAt)}</td><td>${status(state)}</td>
<td>${d.revokedAt ? html`<span class="muted">${time(d.revokedAt)}</span>` : html`<form class="inline" method="post" action="/console/devices/revoke">${csrfField(session)}<input type="hidden" name="return" value="${here}"><input type="hidden" name="id" value="${d.id}"><button type="submit" class="danger" data-confirm="Revoke ${d.hostname}? It is disconnected now, and the virtual keys signed in on it are revoked." aria-label="Revoke ${d.hostname}">Revoke</button></form>`}</td></tr>`;
    })}</tbody></table></div>
${shown.length === 0 ? html`<p>No devices${q || os ? ' match the filter' : ' are enrolled yet'}.</p>` : ''}
<nav class="pager" aria-label="Pages">${after ? html`<a href="${href('/console/devices', { q, os })}">First page</a>` : ''}${rows.length > PAGE_SIZE && last ? html`<a href="${href('/console/devices', { q, os, after_host: last.hostname, after_id: last.id })}">Next page</a>` : ''}</nav>`,
  );
};
