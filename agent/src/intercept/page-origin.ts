// Whether a request was made by a web page on behalf of a site other than the API it calls. The proxy
// attaches the signed-in user's identity (their virtual key) to governed inference; a page in the
// person's browser can send requests to the same hosts (a no-cors POST needs no permission at all, and
// websockets have no CORS), so a page of another site must never get that identity. Browsers say
// where a request comes from: `Origin` on every cross-origin request, POSTs and websocket upgrades, and
// `Sec-Fetch-Site` on every request. Apps that are not pages (CLIs, SDKs, desktop apps' native code)
// send neither, or the API's own origin.
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The origin of the page behind a request to `host` when that page is not `host` itself; undefined for
 * requests that no foreign page made. Same-site is foreign too: a provider's domain also serves
 * content other people wrote (storage.googleapis.com beside generativelanguage.googleapis.com).
 */
export function foreignPageOrigin(headers: IncomingHttpHeaders, host: string): string | undefined {
  const origin = typeof headers.origin === 'string' ? headers.origin : undefined;
  const site = typeof headers['sec-fetch-site'] === 'string' ? headers['sec-fetch-site'].toLowerCase() : undefined;
  if (site === 'cross-site' || site === 'same-site') return origin ?? `a ${site} page`;
  if (origin === undefined) return undefined;
  return origin.toLowerCase() === `https://${host}` ? undefined : origin;
}
