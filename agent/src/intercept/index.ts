// The intercept room's door: the local proxy (CONNECT, plain HTTP, PAC, TLS termination for AI
// hosts), the governance seam it asks, and the environment that puts terminal tools on it.
import { ProxyServer, type ProxyServerOptions } from './proxy-server.ts';

export { ProxyServer, DEFAULT_CLIENT_TIMEOUTS } from './proxy-server.ts';
export type {
  ProxyServerOptions, ClientActivity, ProxyAddress, ProxyStats, ListeningAddress, CertificateSource, ClientTimeouts, ExchangeDecision,
} from './proxy-server.ts';
export { allowAllGovernor, UNGOVERNED, UNDECIDED } from './governor.ts';
export type {
  Governor, Attribution, RoutingMode, ConnectionInfo, ConnectionAdmission, RequestInfo, RequestDecision, ExchangeRecord,
} from './governor.ts';
export { buildPacScript, PAC_CONTENT_TYPE } from './pac.ts';
export { TargetGuard, type TargetGuardOptions } from './target-guard.ts';
export { renderBlockPage } from './block-page.ts';
export {
  buildProxyEnvironment, applyProxyEnvironment, appendOptions, formatShellExports, writeCaBundle, findSystemCaBundle, SYSTEM_CA_BUNDLES, NODE_WARNING_FLAG, APPENDED_VARIABLES,
} from './proxy-env.ts';
export type { ProxyEnvironmentInput, Shell } from './proxy-env.ts';

/** Builds the proxy; call `listen()` to bind 127.0.0.1 and ::1. */
export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  return new ProxyServer(options);
}
