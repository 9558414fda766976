// The few pages a person sees at the gateway during a sign-in: an IdP chooser, the device-code
// entry, "you can close this tab", and errors that say what went wrong and what to do.
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)} · Heimdall</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}a.idp,button{display:block;margin:.5rem 0;padding:.6rem 1rem;border:1px solid #888;border-radius:.4rem;text-decoration:none;color:inherit;background:none;font:inherit}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

export function errorPage(title: string, message: string, supportUrl?: string): string {
  const help = supportUrl ? `<p>Help: <a href="${escapeHtml(supportUrl)}">${escapeHtml(supportUrl)}</a></p>` : '';
  return page(title, `<p id="error">${escapeHtml(message)}</p>${help}`);
}

export function chooserPage(choices: { name: string; href: string }[]): string {
  return page('Sign in to Heimdall', `<p>Choose how you sign in:</p>${choices.map((c) => `<a class="idp" href="${escapeHtml(c.href)}">${escapeHtml(c.name)}</a>`).join('')}`);
}

export function deviceCodePage(action: string, userCode: string, error?: string): string {
  return page(
    'Sign in a device to Heimdall',
    `${error ? `<p id="error">${escapeHtml(error)}</p>` : ''}<p>Type the code your terminal shows.</p>
<form method="get" action="${escapeHtml(action)}"><label>Code <input name="user_code" id="user_code" value="${escapeHtml(userCode)}" autocomplete="off" autofocus></label>
<button type="submit" id="continue">Continue</button></form>`,
  );
}

export function donePage(email: string, device: boolean): string {
  return page('Signed in', `<p id="done">Signed in as ${escapeHtml(email)}. ${device ? 'Return to your terminal: the sign-in finishes there.' : 'You can close this tab.'}</p>`);
}
