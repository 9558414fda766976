// The enrollment room: POST /edge/v1/challenge, /edge/v1/enroll and /edge/v1/token.
export { createChallengeHandler, createEnrollHandler, createTokenHandler, controlUrlFor, type EnrollHandlerOptions } from './enroll.ts';
