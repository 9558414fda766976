// The admin console room: /console/..., server-rendered pages over the control plane, changes through
// the admin API, sessions for administrators signed in with the admin token or through the
// organization's IdP (the SSO room decides who is an administrator; /console/sso/start and /callback).
export { createConsole, CONSOLE_PREFIX, CONSOLE_SSO_CALLBACK_PATH, CONSOLE_SSO_START_PATH, type ConsoleOptions, type GatewayConsole } from './console.ts';
export { DEFAULT_SESSION_LIMITS, type ConsoleAdmin, type SessionLimits } from './sessions.ts';
