// Facts CLI commands fetch from the running daemon, with the daemon's own error text on failure.
import type { ProxyEnvironmentInput } from '../lib/proxy-environment.ts';
import { callLocalApi } from '../localapi/index.ts';
import { socketPathFor, type DaemonLocation } from './local-daemon.ts';

export async function fetchFromDaemon<T>(options: DaemonLocation, path: string): Promise<T> {
  const reply = await callLocalApi<T & { error?: string }>(socketPathFor(options), 'GET', path);
  if (reply.status !== 200) throw new Error(reply.body.error ?? `the daemon answered ${reply.status} to ${path}`);
  return reply.body;
}

/** What `heimdall env` and `heimdall exec` need: the running proxy and the CA files apps trust. */
export function proxyEnvironmentFromDaemon(options: Record<string, unknown>): Promise<ProxyEnvironmentInput> {
  return fetchFromDaemon<ProxyEnvironmentInput>(options, '/v1/proxy-environment');
}
