// Names of the files in a gateway's data dir that the CLI reads too. Kept apart from server.ts so an
// admin command (which only needs these names) does not load the whole gateway to start.
export const ADMIN_TOKEN_FILE = 'admin-token';
/** Written at start so the CLI on the same machine finds the running gateway from the data dir. */
export const RUNTIME_FILE = 'gateway-runtime.json';
