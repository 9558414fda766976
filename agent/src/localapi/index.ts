// The localapi room: the daemon's HTTP-over-unix-socket API for the CLI, with caller identity.
export { LocalApi, LocalApiError, type LocalApiOptions, type LocalRoute, type LocalRequest, type LocalResponse } from './server.ts';
export { callLocalApi, DaemonUnreachableError, type LocalApiReply } from './client.ts';
export { linuxCallerResolver, unknownCallerResolver, parseSsUnixOutput, type CallerResolver, type LocalCaller } from './peer-credentials.ts';
