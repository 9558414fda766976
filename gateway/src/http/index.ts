// The http room's door: JSON in and out of the gateway's HTTP routes, and the errors that name the
// field, the value and what is accepted.
export { HttpError, sendJson, sendError, readBoundedBody, readJsonBody, readFormBody, setBodyTimeout, parseInput, type ParseOptions } from './json.ts';
export { ClientLimits, DEFAULT_CLIENT_LIMITS, type ClientLimitSettings, type RateLimit, type RouteClass } from './client-limits.ts';
export { createHealth, HEALTH_PATH, READY_PATH, type Health, type HealthOptions, type NotReadyReason } from './health.ts';
