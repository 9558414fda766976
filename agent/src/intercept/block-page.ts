// The page a person sees when a browser navigation to a blocked consumer AI surface is refused.

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export function renderBlockPage(input: { host: string; message: string; supportUrl?: string; organization?: string }): string {
  const org = input.organization ? escapeHtml(input.organization) : 'Your organization';
  const support = input.supportUrl && /^https?:\/\//i.test(input.supportUrl)
    ? `<p>Need it for your work? <a href="${escapeHtml(input.supportUrl)}">Ask for access</a>.</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Blocked by ${org}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:10vh auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{background:#f3f3f3;padding:0 .2em}</style>
</head><body>
<h1>${org} blocks <code>${escapeHtml(input.host)}</code> on this device</h1>
<p>${escapeHtml(input.message)}</p>
${support}
<p><small>Heimdall, your organization's AI governance agent, stopped this request.</small></p>
</body></html>
`;
}
