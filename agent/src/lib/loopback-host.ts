// The Host header check that keeps a web page from reading Heimdall's loopback HTTP services (the PAC
// file, /metrics) through DNS rebinding: a page at attacker.example whose name the attacker re-points at
// 127.0.0.1 reaches the port, but its requests still say `Host: attacker.example`. Browsers send the
// name they resolved, so only loopback names are served.
import net from 'node:net';

const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['localhost', 'localhost.']);

/** Whether a Host header names this machine's loopback (and, when it has a port, the given port). */
export function isLoopbackHostHeader(host: string | undefined, port: number): boolean {
  // HTTP/1.0 clients (and some PAC fetchers) send no Host; a browser always does.
  if (host === undefined || host === '') return true;
  let name: string;
  let portText: string | undefined;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0) return false;
    name = host.slice(1, end);
    const rest = host.slice(end + 1);
    if (rest !== '' && !rest.startsWith(':')) return false;
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = host.lastIndexOf(':');
    name = colon < 0 ? host : host.slice(0, colon);
    portText = colon < 0 ? undefined : host.slice(colon + 1);
  }
  if (portText !== undefined && portText !== String(port)) return false;
  const lower = name.toLowerCase();
  if (LOOPBACK_NAMES.has(lower)) return true;
  if (net.isIPv4(lower)) return lower.startsWith('127.');
  return net.isIPv6(lower) && lower === '::1';
}

/** The sentence a refused request gets, naming the Host it sent. */
export function loopbackHostRefusal(service: string, host: string | undefined, port: number): string {
  return `Heimdall serves ${service} only to loopback names (Host: 127.0.0.1:${port} or localhost:${port}); this request said Host: ${JSON.stringify(host ?? '')}.`;
}

/**
 * Whether a URL's hostname (as `new URL()` gives it: IPv4 dotted, IPv6 in brackets, names lower case)
 * is this machine's loopback. The URL parser has already turned `127.1` or `2130706433` into
 * `127.0.0.1`, so spellings cannot slip past.
 */
export function isLoopbackUrlHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return net.isIPv6(host) && (host === '::1' || /^::ffff:(127\.|7f[0-9a-f]{2}:)/i.test(host));
}

/** Plain http and ws carry credentials in the clear: accepted only to loopback (development, the demo). */
export function isPlainTextToNetwork(url: URL): boolean {
  return (url.protocol === 'http:' || url.protocol === 'ws:') && !isLoopbackUrlHost(url.hostname);
}
