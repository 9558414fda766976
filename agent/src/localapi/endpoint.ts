// Where the local API listens, and what a request must look like on the loopback TCP endpoint.
//
// Linux and macOS: a unix socket (the kernel names the peer: SO_PEERCRED, LOCAL_PEERCRED). Windows:
// loopback TCP, 127.0.0.1:<port>. Node's named pipes give JavaScript no HANDLE to read the client's
// token from, while the kernel's TCP table names the process that owns the other end of a loopback
// connection (GetExtendedTcpTable, agent/native/sockdiag/peercred_win.c), and that process's token
// names its account: the same kernel-sourced answer, reachable from a Node socket's two ports.
//
// A TCP port is reachable by web pages, which a unix socket never is. So over TCP a request must
// carry the client header (a browser cannot add it without a CORS preflight, which the daemon never
// grants), a Host that is the loopback endpoint itself (DNS rebinding names another host), and none
// of the headers browsers add to their own requests (Origin, Referer, Sec-Fetch-*).

export type LocalEndpoint = { kind: 'socket'; path: string } | { kind: 'tcp'; host: '127.0.0.1'; port: number };

/** Sent by the CLI on every request; required over TCP. */
export const LOCAL_API_CLIENT_HEADER = 'x-heimdall-local-api';

const TCP = /^127\.0\.0\.1:(\d{1,5})$/;

/** `127.0.0.1:<port>` is the TCP endpoint; anything else a unix socket's path. */
export function parseLocalEndpoint(value: string): LocalEndpoint {
  const m = TCP.exec(value);
  if (!m) {
    if (value.trim() === '') throw new Error('local API endpoint: expected a unix socket path or 127.0.0.1:<port>, got ""');
    return { kind: 'socket', path: value };
  }
  const port = Number(m[1]);
  if (port < 1 || port > 65535) throw new Error(`local API endpoint ${value}: the port must be 1-65535`);
  return { kind: 'tcp', host: '127.0.0.1', port };
}

export function formatEndpoint(endpoint: LocalEndpoint): string {
  return endpoint.kind === 'tcp' ? `${endpoint.host}:${endpoint.port}` : endpoint.path;
}

type Headers = Readonly<Record<string, string | string[] | undefined>>;

/**
 * Why a request on the TCP endpoint is refused, or undefined when it is the CLI's. Checked before the
 * caller is looked up and before the body is read.
 */
export function refuseOnTcp(headers: Headers, port: number): string | undefined {
  if (headers['origin'] !== undefined || headers['referer'] !== undefined || Object.keys(headers).some((h) => h.startsWith('sec-fetch-'))) {
    return 'requests from web pages are refused';
  }
  const host = headers['host'];
  if (host !== `127.0.0.1:${port}`) return `the local API answers only to Host 127.0.0.1:${port} (got ${JSON.stringify(host ?? '')})`;
  if (headers[LOCAL_API_CLIENT_HEADER] !== '1') return `the local API answers only its own client (the ${LOCAL_API_CLIENT_HEADER} header is missing)`;
  return undefined;
}
