// The local API's routes, as a table: what the CLI (and later the per-user helper) may ask the daemon.
import type { LocalRequest, LocalResponse, LocalRoute } from '../localapi/index.ts';
import type { McpListRow } from '../mcp/index.ts';
import type { SeenAppRow } from '../policy/index.ts';
import type { InterceptionStatus, ProxyEnvironmentFacts } from './interception.ts';
import type { DaemonStatus } from './status.ts';

export interface LocalRouteDeps {
  status: () => DaemonStatus;
  login: (request: LocalRequest) => Promise<LocalResponse>;
  environment: () => ProxyEnvironmentFacts | undefined;
  caStatus: () => InterceptionStatus['ca'];
  apps: () => SeenAppRow[];
  mcp: () => McpListRow[];
}

const notRunning = (what: string): LocalResponse => ({ status: 503, body: { error: `${what}: the interception proxy is not running (see \`heimdall status\`)` } });

export function localApiRoutes(d: LocalRouteDeps): LocalRoute[] {
  return [
    { method: 'GET', path: '/v1/status', handle: () => ({ status: 200, body: d.status() }) },
    // The OS user a virtual key belongs to is the caller, never a field of the body.
    { method: 'POST', path: '/v1/login', needsCaller: true, handle: (r) => d.login(r) },
    {
      method: 'GET',
      path: '/v1/proxy-environment',
      handle: () => {
        const env = d.environment();
        return env ? { status: 200, body: env } : notRunning('no proxy environment');
      },
    },
    {
      method: 'GET',
      path: '/v1/ca',
      handle: () => {
        const ca = d.caStatus();
        return ca.certificate_path ? { status: 200, body: ca } : notRunning('no interception CA yet');
      },
    },
    { method: 'GET', path: '/v1/apps', handle: () => ({ status: 200, body: d.apps() }) },
    { method: 'GET', path: '/v1/mcp', handle: () => ({ status: 200, body: d.mcp() }) },
  ];
}
