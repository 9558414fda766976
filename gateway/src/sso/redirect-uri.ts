// RFC 8252 section 7.3: a native app's redirect is `http` to a loopback address on any port. The
// gateway redirects an authorization code only there; anything else would hand a person's sign-in
// to whoever owns that URL, so it is refused with a page, never redirected to.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Why `uri` is not an acceptable agent redirect, or undefined when it is. */
export function loopbackRedirectProblem(uri: string | undefined): string | undefined {
  if (uri === undefined || uri === '') return 'redirect_uri is missing';
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'redirect_uri is not a URL';
  }
  if (url.protocol !== 'http:') return 'redirect_uri must be http://127.0.0.1:<port>/... (a loopback redirect, RFC 8252)';
  if (!LOOPBACK_HOSTS.has(url.hostname)) return `redirect_uri must point to this computer (127.0.0.1, [::1] or localhost), not ${url.hostname}`;
  if (url.username !== '' || url.password !== '') return 'redirect_uri must not carry credentials';
  if (url.hash !== '') return 'redirect_uri must not carry a fragment';
  return undefined;
}
