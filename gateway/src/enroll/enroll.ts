// POST /edge/v1/enroll: a user's virtual key, sent once, enrolls a device and gets it a device token.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../lib/index.ts';
import { CONNECT_PATH, enrollRequestSchema } from '../../../protocol/index.ts';
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

export function createEnrollHandler(options: EnrollHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'method_not_allowed', 'use POST');
      const body = parseInput(enrollRequestSchema, await readJsonBody(req, 64 * 1024));
      const response = await options.control.enroll(body, controlUrlFor(req, options.publicUrl, options.tls));
      sendJson(res, 200, response);
    } catch (err) {
      if (err instanceof HttpError) return sendError(res, err.status, err.code, err.message, err.field);
      if (err instanceof ControlError) {
        const status = err.code === 'unauthorized' ? 401 : err.code === 'revoked' ? 403 : err.code === 'not_found' ? 404 : 400;
        options.logger.warn({ reason: err.message }, 'enrollment refused');
        return sendError(res, status, err.code, err.message, err.field);
      }
      options.logger.error({ err }, 'enrollment failed');
      sendError(res, 500, 'internal', 'enrollment failed; see the gateway log');
    }
  };
}
