// The console's only static files: a small stylesheet and a little progressive enhancement (select
// all rows, confirm before a revoke). Served by the gateway itself, under a name that carries their
// hash so browsers may cache them for good; the pages work without the script.
import { createHash } from 'node:crypto';

const CSS = `
:root { --ink: #1b1f24; --muted: #4f5661; --line: #d0d5dc; --bg: #ffffff; --panel: #f4f6f8; --accent: #0b5cad;
  --ok: #116329; --bad: #a40e26; --warn: #7a4d00; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: var(--bg); line-height: 1.45; font-size: 15px; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid #f0a800; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px 10px; z-index: 2; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px; padding: 10px 20px; background: #14213d; color: #fff; }
header.top .brand { font-weight: 700; font-size: 17px; color: #fff; text-decoration: none; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; margin: 0; padding: 0; }
header.top nav a { color: #e8eefc; text-decoration: none; padding: 4px 2px; }
header.top nav a[aria-current="page"] { color: #fff; border-bottom: 3px solid #f0a800; }
header.top form { margin-left: auto; }
header.top .who { margin: 0 0 0 auto; color: #e8eefc; font-size: 14px; }
header.top .who + form { margin-left: 0; }
header.top button { background: transparent; color: #fff; border: 1px solid #9fb1d6; }
main { padding: 16px 20px 40px; max-width: 1280px; }
h1 { font-size: 22px; margin: 6px 0 14px; }
h2 { font-size: 17px; margin: 22px 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; }
.card .n { font-size: 26px; font-weight: 700; }
.card .label { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; color: var(--muted); padding: 4px 0; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; word-break: break-all; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 13px; font-weight: 600; border: 1px solid currentColor; }
.status.approved, .status.connected, .status.active { color: var(--ok); }
.status.denied, .status.revoked { color: var(--bad); }
.status.pending, .status.offline { color: var(--warn); }
button, .button { font: inherit; padding: 5px 12px; border-radius: 4px; border: 1px solid #6b7480; background: #fff; color: var(--ink); cursor: pointer; text-decoration: none; display: inline-block; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger { color: var(--bad); border-color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin: 8px 0; }
.inline { display: inline; }
form.filters { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; margin: 8px 0 12px; }
label { display: block; font-weight: 600; font-size: 13px; }
input[type=text], input[type=email], input[type=password], input[type=number], select { font: inherit; padding: 5px 8px; border: 1px solid #6b7480; border-radius: 4px; min-width: 10em; background: #fff; color: var(--ink); }
.field { margin: 0 0 12px; }
.hint { color: var(--muted); font-size: 13px; font-weight: 400; }
.flash { padding: 10px 14px; border-radius: 6px; margin: 0 0 14px; border: 1px solid; }
.flash.ok { background: #eaf6ec; border-color: var(--ok); }
.flash.error { background: #fbeaec; border-color: var(--bad); }
.secret { display: block; padding: 8px; background: #fff; border: 1px dashed var(--ink); margin-top: 6px; }
.tabs { display: flex; flex-wrap: wrap; gap: 6px; list-style: none; padding: 0; margin: 0 0 10px; }
.tabs a { padding: 4px 10px; border: 1px solid var(--line); border-radius: 14px; text-decoration: none; }
.tabs a[aria-current="page"] { background: var(--accent); color: #fff; border-color: var(--accent); }
.pager { display: flex; gap: 12px; margin: 12px 0; }
.muted { color: var(--muted); }
ul.plain { list-style: none; padding: 0; margin: 0; }
.chart { max-width: 100%; height: auto; }
.chart text { font-size: 11px; fill: #1b1f24; }
.chart .axis { stroke: #6b7480; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; padding: 0; margin: 6px 0; font-size: 13px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; border: 1px solid #1b1f24; }
.s0 { fill: #0b5cad; background: #0b5cad; } .s1 { fill: #c2410c; background: #c2410c; } .s2 { fill: #15803d; background: #15803d; }
.s3 { fill: #7e22ce; background: #7e22ce; } .s4 { fill: #a16207; background: #a16207; } .s5 { fill: #be123c; background: #be123c; }
.s6 { fill: #6b7480; background: #6b7480; }
.signin { max-width: 420px; margin: 40px auto; padding: 20px; border: 1px solid var(--line); border-radius: 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
@media (max-width: 640px) {
  main { padding: 12px; }
  header.top form, header.top .who { margin-left: 0; }
  th, td { padding: 5px 6px; }
  .hide-narrow { display: none; }
}
`;

const JS = `
// Progressive enhancement only: every page works without it.
document.addEventListener('click', (e) => {
  const t = e.target;
  if (!(t instanceof HTMLElement)) return;
  const confirmText = t.closest('[data-confirm]')?.getAttribute('data-confirm');
  if (confirmText && !window.confirm(confirmText)) e.preventDefault();
});
for (const all of document.querySelectorAll('input[data-select-all]')) {
  all.hidden = false;
  all.addEventListener('change', () => {
    for (const box of all.form.querySelectorAll('input[name="id"]')) box.checked = all.checked;
  });
}
`;

export interface Asset {
  path: string;
  type: string;
  body: Buffer;
}

function asset(name: string, ext: string, type: string, text: string): Asset {
  const body = Buffer.from(text.trim() + '\n');
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { path: `/console/assets/${name}.${hash}.${ext}`, type, body };
}

export const STYLESHEET = asset('console', 'css', 'text/css; charset=utf-8', CSS);
export const SCRIPT = asset('console', 'js', 'text/javascript; charset=utf-8', JS);
export const ASSETS: ReadonlyMap<string, Asset> = new Map([STYLESHEET, SCRIPT].map((a) => [a.path, a]));
