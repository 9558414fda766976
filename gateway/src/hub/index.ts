// The websocket hub room: the edge sync channel's server side.
export { EdgeHub, SUPERSEDED_CLOSE_CODE, type DrainOutcome, type EdgeHubOptions } from './hub.ts';
