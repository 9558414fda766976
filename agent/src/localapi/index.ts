// The localapi room: the daemon's HTTP API for the CLI over a unix socket (loopback TCP on Windows),
// with caller identity from the kernel and a permission per route.
export { LocalApi, LocalApiError, type LocalApiOptions, type LocalRoute, type LocalRequest, type LocalResponse } from './server.ts';
export { callLocalApi, DaemonUnreachableError, UntrustedDaemonError, type CallOptions, type LocalApiReply } from './client.ts';
export { decideAccess, inView, type AccessDecision, type CallerView, type LocalPermission } from './access.ts';
export {
  callerFromPeerCred,
  callerFromWindowsToken,
  loopbackEnds,
  peerCredentialResolver,
  type CallerLookup,
  type CallerResolver,
  type LocalCaller,
  type PeerCred,
  type LoopbackEnds,
  type WindowsPeer,
} from './peer-credentials.ts';
export { ADDON_MISSING, loadPeerCredAddon, platformCallerResolver, type PeerCredAddon } from './addon.ts';
export { formatEndpoint, LOCAL_API_CLIENT_HEADER, parseLocalEndpoint, refuseOnTcp, type LocalEndpoint } from './endpoint.ts';
export { serviceOwnerCheck, WINDOWS_SERVICE_NAME, type ServerCheck } from './server-check.ts';
