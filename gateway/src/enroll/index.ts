// The enrollment room: POST /edge/v1/enroll.
export { createEnrollHandler, controlUrlFor, type EnrollHandlerOptions } from './enroll.ts';
