// Overview: the fleet by OS and status, what waits for a decision, today's blocked requests, and the
// governed requests per app over the last two weeks.
import { requestsChart } from './chart.ts';
import type { PageHandler } from './deps.ts';
import { html } from './html.ts';
import { page } from './layout.ts';

const CHART_DAYS = 14;
/** Agent events for a request the agent governed: `request` when allowed, `block` when not. */
export const GOVERNED_TYPES = ['request', 'block'] as const;

export const overviewPage: PageHandler = async (deps, session) => {
  const store = deps.control.store;
  const now = deps.clock.now();
  const today = new Date(now).toISOString().slice(0, 10);
  const days = Array.from({ length: CHART_DAYS }, (_, i) => new Date(now - (CHART_DAYS - 1 - i) * 86_400_000).toISOString().slice(0, 10));
  const [devices, connected, catalog, blockedToday, perDay] = await Promise.all([
    store.deviceStatusRows(),
    deps.connectedDevices(),
    store.catalogCounts(),
    store.countEvents({ types: ['block'], sinceDay: today }),
    store.eventCountsByDay({ types: GOVERNED_TYPES, sinceDay: days[0]! }),
  ]);
  const byOs = new Map<string, { connected: number; offline: number; revoked: number }>();
  const totals = { connected: 0, offline: 0, revoked: 0 };
  for (const d of devices) {
    const row = byOs.get(d.os) ?? { connected: 0, offline: 0, revoked: 0 };
    const state = d.revoked ? 'revoked' : connected.has(d.id) ? 'connected' : 'offline';
    row[state]++;
    totals[state]++;
    byOs.set(d.os, row);
  }
  const pending = (kind: 'app' | 'mcp') => catalog.find((c) => c.kind === kind && c.status === 'pending')?.count ?? 0;
  return page(
    session,
    '/console/',
    'Overview',
    html`<section aria-labelledby="at-a-glance"><h2 id="at-a-glance">At a glance</h2><div class="cards">
<div class="card"><div class="n">${devices.length}</div><div class="label">devices (${totals.connected} connected)</div></div>
<div class="card"><div class="n"><a href="/console/apps?status=pending">${pending('app')}</a></div><div class="label">apps waiting for a decision</div></div>
<div class="card"><div class="n"><a href="/console/mcp-servers?status=pending">${pending('mcp')}</a></div><div class="label">MCP servers waiting for a decision</div></div>
<div class="card"><div class="n"><a href="/console/events?type=block">${blockedToday}</a></div><div class="label">requests blocked today (UTC)</div></div>
</div></section>
<section aria-labelledby="by-os"><h2 id="by-os">Devices by OS and status</h2><div class="table-wrap"><table>
<thead><tr><th scope="col">OS</th><th scope="col" class="num">Connected</th><th scope="col" class="num">Offline</th><th scope="col" class="num">Revoked</th><th scope="col" class="num">Total</th></tr></thead>
<tbody>${[...byOs.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(
        ([os, r]) =>
          html`<tr><th scope="row"><a href="/console/devices?os=${encodeURIComponent(os)}">${os}</a></th><td class="num">${r.connected}</td><td class="num">${r.offline}</td><td class="num">${r.revoked}</td><td class="num">${r.connected + r.offline + r.revoked}</td></tr>`,
      )}</tbody>
<tfoot><tr><th scope="row">All</th><td class="num">${totals.connected}</td><td class="num">${totals.offline}</td><td class="num">${totals.revoked}</td><td class="num">${devices.length}</td></tr></tfoot>
</table></div></section>
<section aria-labelledby="requests"><h2 id="requests">Governed requests per app</h2>${requestsChart({ counts: perDay, days })}</section>`,
  );
};
