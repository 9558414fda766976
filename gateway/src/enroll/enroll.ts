// The device's HTTP doors: POST /edge/v1/challenge (a challenge to sign), POST /edge/v1/enroll (a
// user's virtual key, sent once, signs that user in on a device that proves its key) and
// POST /edge/v1/token (a short-lived device token for a signed challenge).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../lib/index.ts';
import { CONNECT_PATH, enrollRequestSchema, tokenRequestSchema } from '../../../protocol/index.ts';
import { ControlError, type ControlPlane } from '../control/index.ts';
import { HttpError, parseInput, readJsonBody, sendError, sendJson } from '../http/index.ts';

export interface EnrollHandlerOptions {
  control: ControlPlane;
  logger: Logger;
  /** The public base URL (`https://gw.example.com`); when unset, the request's Host header is used. */
  publicUrl: URL | undefined;
  /** Whether this listener serves TLS (for the URL built from the Host header). */
  tls: boolean;
}

export function controlUrlFor(req: IncomingMessage, publicUrl: URL | undefined, tls: boolean): string {
  if (publicUrl) {
    const u = new URL(publicUrl);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    u.pathname = u.pathname.replace(/\/$/, '') + CONNECT_PATH;
    return u.toString();
  }
  const host = req.headers.host ?? 'localhost';
  return `${tls ? 'wss' : 'ws'}://${host}${CONNECT_PATH}`;
}

const STATUS: Record<ControlError['code'], number> = { unauthorized: 401, revoked: 403, not_found: 404, conflict: 409, invalid: 400, virtual_key_login_disabled: 403 };

type Answer = (req: IncomingMessage) => Promise<unknown>;

function handle(options: EnrollHandlerOptions, what: string, answer: Answer): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
      sendJson(res, 200, await answer(req));
    } catch (err) {
      if (err instanceof HttpError) return sendError(res, err.status, err.code, err.message, err.field);
      if (err instanceof ControlError) {
        options.logger.warn({ reason: err.message, field: err.field }, `${what} refused`);
        return sendError(res, STATUS[err.code], err.code, err.message, err.field);
      }
      options.logger.error({ err }, `${what} failed`);
      sendError(res, 500, 'internal', `${what} failed; see the gateway log`);
    }
  };
}

export function createEnrollHandler(options: EnrollHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return handle(options, 'enrollment', async (req) => {
    const body = parseInput(enrollRequestSchema, await readJsonBody(req, 64 * 1024));
    return options.control.enroll(body, controlUrlFor(req, options.publicUrl, options.tls));
  });
}

export function createChallengeHandler(options: EnrollHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return handle(options, 'challenge', (req) => {
    req.resume();
    return options.control.issueChallenge();
  });
}

export function createTokenHandler(options: EnrollHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return handle(options, 'device token renewal', async (req) => options.control.renewDeviceToken(parseInput(tokenRequestSchema, await readJsonBody(req, 8 * 1024))));
}
