// Settings: what agents do with pending apps, without a valid policy, whether they intercept, the
// routing mode per app, and the gateway-held CA (fingerprint and PEM export for the MDM profile).
import type { PageHandler } from './deps.ts';
import { html, type Html } from './html.ts';
import { csrfField, page, time } from './layout.ts';

function select(id: string, label: string, hint: string, value: string, options: readonly string[]): Html {
  return html`<div class="field"><label for="${id}">${label} <span class="hint">${hint}</span></label><select id="${id}" name="${id}">${options.map(
    (o) => html`<option value="${o}"${o === value ? html` selected` : ''}>${o}</option>`,
  )}</select></div>`;
}

export const settingsPage: PageHandler = async (deps, session) => {
  const [settings, ca] = await Promise.all([deps.control.getSettings(), deps.control.caInfo()]);
  const routing = Object.entries(settings.routing).sort((a, b) => a[0].localeCompare(b[0]));
  return page(
    session,
    '/console/settings',
    'Settings',
    html`<form method="post" action="/console/settings">${csrfField(session)}
${select('pending_action', 'Pending action', '(an app or MCP server nobody decided on yet)', settings.pending_action, ['allow', 'block'])}
${select('fail_mode', 'Fail mode', '(an agent without a valid policy)', settings.fail_mode, ['open', 'closed'])}
${select('intercept', 'Interception', '(agents terminate TLS for AI hosts)', String(settings.intercept), ['true', 'false'])}
${select('allow_direct_keys', 'Direct provider keys', '(pass-through routing may use the app’s own key)', String(settings.allow_direct_keys ?? false), ['true', 'false'])}
<div class="field"><label for="full_resync_s">Full resync every <span class="hint">(seconds, 30 to 86400)</span></label><input type="number" id="full_resync_s" name="full_resync_s" value="${settings.full_resync_s}" min="30" max="86400"></div>
<button type="submit" class="primary">Save settings</button></form>
<h2>Routing modes</h2>
<p class="hint">Gateway mode (the default) swaps the app’s credential for the user’s virtual key; pass-through keeps the app’s own key and adds the virtual key.</p>
<div class="table-wrap"><table><caption>Apps with a routing mode set</caption><thead><tr><th scope="col">App</th><th scope="col">Mode</th><th scope="col">Remove</th></tr></thead>
<tbody>${routing.map(
      ([app, mode]) => html`<tr><td><code>${app}</code></td><td>${mode}</td><td><form class="inline" method="post" action="/console/settings/routing">${csrfField(session)}<input type="hidden" name="app" value="${app}"><input type="hidden" name="mode" value="default"><button type="submit" aria-label="Back to the default mode for ${app}">Remove</button></form></td></tr>`,
    )}</tbody></table></div>
${routing.length === 0 ? html`<p class="muted">Every app uses gateway mode.</p>` : ''}
<form class="filters" method="post" action="/console/settings/routing">${csrfField(session)}
<div><label for="routing-app">App id</label><input type="text" id="routing-app" name="app" required></div>
<div><label for="routing-mode">Mode</label><select id="routing-mode" name="mode"><option value="gateway">gateway</option><option value="passthrough">passthrough</option></select></div>
<button type="submit">Set mode</button></form>
<h2>Interception CA</h2>
${ca
  ? html`<dl class="facts"><dt>SHA-256 fingerprint</dt><dd><code>${ca.fingerprintSha256}</code></dd><dt>Subject</dt><dd>${ca.subject}</dd>
<dt>Valid</dt><dd>${time(ca.notBefore)} to ${time(ca.notAfter)}</dd><dt>Permitted names</dt><dd>${ca.permitted.join(', ')}</dd><dt>Source</dt><dd>${ca.source}, ${time(ca.createdAt)}</dd></dl>
<p><a class="button" href="/console/ca.pem" download="heimdall-gateway-ca.pem">Export the CA certificate (PEM)</a></p>`
  : html`<p>The gateway holds no CA. Agents with <code>ca_mode: gateway</code> need one.</p>
<form method="post" action="/console/ca/generate">${csrfField(session)}<button type="submit" class="primary">Generate a name-constrained CA</button></form>`}`,
  );
};
