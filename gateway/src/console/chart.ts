// The overview's chart: governed requests per app per UTC day, stacked bars drawn as inline SVG on
// the server (no script, no library). The biggest apps get a colour each, the rest are "other"; the
// same numbers are in a table next to it for screen readers and for reading exact values.
import type { EventDayCount } from '../store/index.ts';
import { html, raw, type Html } from './html.ts';

const SERIES = 6;
const WIDTH = 760;
const HEIGHT = 240;
const PAD = { left: 44, right: 8, top: 10, bottom: 28 };

export interface ChartInput {
  counts: readonly EventDayCount[];
  /** The days shown, oldest first (`YYYY-MM-DD`). */
  days: readonly string[];
}

export function requestsChart(input: ChartInput): Html {
  const totals = new Map<string, number>();
  for (const c of input.counts) totals.set(c.app ?? '(unknown)', (totals.get(c.app ?? '(unknown)') ?? 0) + c.count);
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const named = ranked.slice(0, ranked.length > SERIES ? SERIES - 1 : SERIES).map(([app]) => app);
  const series = ranked.length > named.length ? [...named, 'other'] : named;
  const cell = new Map<string, number>();
  for (const c of input.counts) {
    const app = c.app ?? '(unknown)';
    const name = named.includes(app) ? app : 'other';
    cell.set(`${c.day}\u0000${name}`, (cell.get(`${c.day}\u0000${name}`) ?? 0) + c.count);
  }
  const dayTotal = input.days.map((d) => series.reduce((sum, s) => sum + (cell.get(`${d}\u0000${s}`) ?? 0), 0));
  const max = Math.max(1, ...dayTotal);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, input.days.length);
  const barW = Math.max(2, slot * 0.7);
  let bars = '';
  input.days.forEach((day, i) => {
    let y = PAD.top + plotH;
    series.forEach((s, si) => {
      const v = cell.get(`${day}\u0000${s}`) ?? 0;
      if (v === 0) return;
      const h = (v / max) * plotH;
      y -= h;
      bars += `<rect class="s${si === series.length - 1 && s === 'other' ? 6 : si}" x="${(PAD.left + i * slot + (slot - barW) / 2).toFixed(1)}" y="${y.toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}"></rect>`;
    });
  });
  const labelEvery = Math.ceil(input.days.length / 7);
  const labels = input.days
    .map((d, i) => (i % labelEvery === 0 ? `<text x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${HEIGHT - 8}" text-anchor="middle">${d.slice(5)}</text>` : ''))
    .join('');
  const axis = `<line class="axis" x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${WIDTH - PAD.right}" y2="${PAD.top + plotH}"></line>
<text x="${PAD.left - 6}" y="${PAD.top + 10}" text-anchor="end">${max}</text><text x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end">0</text>`;
  const total = dayTotal.reduce((a, b) => a + b, 0);
  const summary = `Governed requests per day over the last ${input.days.length} days: ${total} in all${ranked.length > 0 ? `, most from ${ranked[0]![0]}` : ''}.`;
  const swatch = (s: string, si: number) => (si === series.length - 1 && s === 'other' ? 6 : si);
  return html`<figure>
<svg class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}"><title id="chart-title">${summary}</title>${raw(axis)}${raw(bars)}${raw(labels)}</svg>
<figcaption><ul class="legend">${series.map((s, si) => html`<li><span class="swatch s${swatch(s, si)}" aria-hidden="true"></span>${s}</li>`)}</ul></figcaption></figure>
<details><summary>The chart's numbers</summary><div class="table-wrap"><table><caption>${summary}</caption>
<thead><tr><th scope="col">Day (UTC)</th>${series.map((s) => html`<th scope="col" class="num">${s}</th>`)}<th scope="col" class="num">Total</th></tr></thead>
<tbody>${input.days.map((d, i) => html`<tr><th scope="row">${d}</th>${series.map((s) => html`<td class="num">${cell.get(`${d}\u0000${s}`) ?? 0}</td>`)}<td class="num">${dayTotal[i]}</td></tr>`)}</tbody></table></div></details>`;
}
