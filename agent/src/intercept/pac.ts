// The proxy auto-config file GUI apps and browsers load: routing-table hosts go to the local
// proxy, everything else DIRECT, so only AI traffic ever touches Heimdall.

/**
 * Builds the PAC script. There is deliberately no `; DIRECT` fallback after the proxy: if the
 * daemon is down, AI hosts fail instead of silently bypassing the organization's governance.
 */
export function buildPacScript(hosts: readonly string[], proxyHostPort: string): string {
  const table = JSON.stringify(Object.fromEntries([...hosts].sort().map((h) => [h.toLowerCase(), 1])));
  return [
    '// Heimdall proxy auto-config: AI hosts through the local governed proxy, everything else direct.',
    'function FindProxyForURL(url, host) {',
    '  var h = String(host).toLowerCase();',
    "  if (h.charAt(h.length - 1) === '.') h = h.substring(0, h.length - 1);",
    `  var intercepted = ${table};`,
    `  if (Object.prototype.hasOwnProperty.call(intercepted, h)) return ${JSON.stringify(`PROXY ${proxyHostPort}`)};`,
    "  return 'DIRECT';",
    '}',
    '',
  ].join('\n');
}

export const PAC_CONTENT_TYPE = 'application/x-ns-proxy-autoconfig';
