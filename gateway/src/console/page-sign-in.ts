// Sign-in: a button per IdP whose people may be console administrators, and the admin token in a form
// (the token never goes into a URL, a log or the page).
import { html, type Html } from './html.ts';
import { barePage } from './layout.ts';

export function signInPage(options: { error?: string; providers: readonly { name: string; href: string }[] }): Html {
  return barePage(
    'Sign in to the Heimdall gateway',
    html`${options.error ? html`<div class="flash error" role="alert">${options.error}</div>` : ''}
${options.providers.length > 0 ? html`${options.providers.map((p) => html`<p><a class="button" href="${p.href}">Sign in with ${p.name}</a></p>`)}<p class="muted">or with the admin token:</p>` : ''}
<form method="post" action="/console/sign-in">
<div class="field"><label for="token">Admin token <span class="hint">(the admin-token file in the gateway’s data dir)</span></label>
<input type="password" id="token" name="token" required autocomplete="current-password" spellcheck="false"></div>
<button type="submit" class="primary">Sign in</button></form>`,
  );
}

export function refusedPage(reason: string): Html {
  return barePage('Not available here', html`<p>${reason}</p>`);
}
