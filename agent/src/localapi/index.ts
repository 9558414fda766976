// The localapi room: the daemon's HTTP-over-unix-socket API for the CLI, with caller identity from
// the kernel and a permission per route.
export { LocalApi, LocalApiError, type LocalApiOptions, type LocalRoute, type LocalRequest, type LocalResponse } from './server.ts';
export { callLocalApi, DaemonUnreachableError, type LocalApiReply } from './client.ts';
export { decideAccess, inView, type AccessDecision, type CallerView, type LocalPermission } from './access.ts';
export {
  callerFromPeerCred,
  callerFromPipeClient,
  peerCredentialResolver,
  type CallerLookup,
  type CallerResolver,
  type LocalCaller,
  type PeerCred,
  type PipeClient,
} from './peer-credentials.ts';
export { ADDON_MISSING, loadPeerCredAddon, platformCallerResolver, type PeerCredAddon } from './addon.ts';
