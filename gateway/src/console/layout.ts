// The page shell every console page shares: head (own stylesheet and script only), a skip link, the
// navigation with the current page marked, the one-time message of the last action, sign-out.
import { SCRIPT, STYLESHEET } from './assets.ts';
import { html, type Html, type HtmlValue } from './html.ts';
import type { ConsoleSession } from './sessions.ts';

export const NAV = [
  { path: '/console/', label: 'Overview' },
  { path: '/console/apps', label: 'Apps' },
  { path: '/console/mcp-servers', label: 'MCP servers' },
  { path: '/console/devices', label: 'Devices' },
  { path: '/console/settings', label: 'Settings' },
  { path: '/console/keys', label: 'Keys' },
  { path: '/console/events', label: 'Events' },
] as const;

export type NavPath = (typeof NAV)[number]['path'];

function head(title: string, refreshTo?: string): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${refreshTo === undefined ? '' : html`<meta http-equiv="refresh" content="0; url=${refreshTo}">`}<title>${title} · Heimdall gateway</title>
<link rel="stylesheet" href="${STYLESHEET.path}"><script src="${SCRIPT.path}" defer></script></head>`;
}

/** A signed-in page. */
export function page(session: ConsoleSession, current: NavPath, title: string, body: HtmlValue): Html {
  const flash = session.flash;
  session.flash = undefined;
  return html`${head(title)}
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/console/">Heimdall gateway</a>
<nav aria-label="Console"><ul>${NAV.map((n) => html`<li><a href="${n.path}"${n.path === current ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}</ul></nav><p class="who">${session.admin.method === 'sso' ? html`Signed in as <strong>${session.admin.email}</strong> (SSO)` : 'Signed in with the admin token'}</p>
<form method="post" action="/console/sign-out">${csrfField(session)}<button type="submit">Sign out</button></form></header>
<main id="main"><h1>${title}</h1>
${flash ? html`<div class="flash ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}">${flash.text}${flash.secret ? html`<code class="secret">${flash.secret}</code>` : ''}</div>` : ''}
${body}</main></body></html>`;
}

/** A page outside a session (sign-in, refusals); `refreshTo` sends the browser on at once (a same-site navigation). */
export function barePage(title: string, body: HtmlValue, refreshTo?: string): Html {
  return html`${head(title, refreshTo)}<body><main id="main" class="signin"><h1>${title}</h1>${body}</main></body></html>`;
}

export function csrfField(session: ConsoleSession): Html {
  return html`<input type="hidden" name="csrf" value="${session.csrfToken}">`;
}

/** A time as people read it (UTC, to the minute), machine-readable in `datetime`. */
export function time(iso: string | null | undefined): Html {
  if (!iso) return html`<span class="muted">never</span>`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

export function status(value: string): Html {
  return html`<span class="status ${value}">${value}</span>`;
}

/** A link to `path` with `params` (empty ones dropped). */
export function href(path: string, params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text ? `${path}?${text}` : path;
}
