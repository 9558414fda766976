// The admin console room: /console/..., server-rendered pages over the control plane, changes through
// the admin API, sessions for administrators signed in with the admin token (or, once wired, SSO).
export { createConsole, CONSOLE_PREFIX, type ConsoleOptions, type GatewayConsole } from './console.ts';
export { DEFAULT_SESSION_LIMITS, type ConsoleAdmin, type SessionLimits } from './sessions.ts';
