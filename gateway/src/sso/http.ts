// The HTTP doors of SSO on the gateway's one listener: RFC 8414 metadata, JWKS, /oauth/authorize,
// /oauth/callback, /oauth/device (pages), /oauth/device_authorization, /oauth/token and
// /oauth/revoke (form bodies, RFC 6749 JSON errors). Hand-written: see docs/sso.md for why no OAuth
// server library fits here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../../../lib/index.ts';
import {
  DEVICE_TOKEN_HEADER,
  OAUTH_AUTHORIZE_PATH,
  OAUTH_CALLBACK_PATH,
  OAUTH_DEVICE_AUTHORIZATION_PATH,
  OAUTH_DEVICE_PAGE_PATH,
  OAUTH_JWKS_PATH,
  OAUTH_METADATA_PATH,
  OAUTH_REVOKE_PATH,
  OAUTH_TOKEN_PATH,
  oauthTokenRequestSchema,
} from '../../../protocol/index.ts';
import { HttpError, readBoundedBody, sendJson } from '../http/index.ts';
import { OAuthFailure, type PageAnswer, type SsoService } from './service.ts';

export interface SsoHttpOptions {
  /** Undefined when no IdP is configured: metadata says so, the other routes answer 404. */
  service: SsoService | undefined;
  logger: Logger;
  /** Whether the organization allows virtual-key sign-in (metadata, when SSO is off). */
  virtualKeyLogin: () => boolean;
  /** The `control_url` an enrollment answer carries, for this request. */
  controlUrl: (req: IncomingMessage) => string;
  /** The gateway's public base URL for this request. */
  publicBase: (req: IncomingMessage) => string;
}

const FORM_MAX_BYTES = 16 * 1024;

/** True for the paths this room serves. */
export function isSsoPath(pathname: string): boolean {
  return pathname === OAUTH_METADATA_PATH || pathname.startsWith('/oauth/');
}

/** A form body (RFC 6749 token and device requests); too large is the protocol's 400 `invalid_request`. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'];
  if (type !== undefined && !/^application\/x-www-form-urlencoded\b/i.test(type)) {
    req.resume();
    throw new OAuthFailure(400, 'invalid_request', 'send the body as application/x-www-form-urlencoded');
  }
  try {
    return new URLSearchParams((await readBoundedBody(req, FORM_MAX_BYTES)).toString('utf8'));
  } catch (err) {
    if (err instanceof HttpError && err.status === 413) throw new OAuthFailure(400, 'invalid_request', `the request body exceeds ${FORM_MAX_BYTES} bytes`);
    throw err;
  }
}

function sendOAuthError(res: ServerResponse, status: number, error: string, description: string): void {
  if (status === 401) res.setHeader('www-authenticate', 'Bearer realm="heimdall-gateway"');
  sendJson(res, status, { error, error_description: description });
}

function sendPage(res: ServerResponse, answer: PageAnswer): void {
  if ('redirect' in answer) {
    res.writeHead(302, { location: answer.redirect, 'cache-control': 'no-store' }).end();
    return;
  }
  res
    .writeHead(answer.status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // Pages of a sign-in are never framed (clickjacking) and run no script.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    })
    .end(answer.html);
}

function headerText(value: string | string[] | undefined): string | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  return v === undefined || v === '' ? undefined : v;
}

export function createSsoHandler(options: SsoHttpOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    const method = req.method ?? 'GET';
    const service = options.service;
    try {
      if (url.pathname === OAUTH_METADATA_PATH && method === 'GET') {
        const base = options.publicBase(req);
        return sendJson(res, 200, service ? service.metadata() : { issuer: base, heimdall_sso_enabled: false, heimdall_virtual_key_login: options.virtualKeyLogin() });
      }
      if (!service) return sendOAuthError(res, 404, 'invalid_request', 'single sign-on is not configured on this gateway (sso in its config)');
      const route = `${method} ${url.pathname}`;
      switch (route) {
        case `GET ${OAUTH_JWKS_PATH}`:
          return sendJson(res, 200, service.jwks());
        case `GET ${OAUTH_AUTHORIZE_PATH}`:
          return sendPage(res, await service.authorize(url.searchParams, OAUTH_AUTHORIZE_PATH));
        case `GET ${OAUTH_CALLBACK_PATH}`:
          return sendPage(res, await service.callback(url.searchParams));
        case `GET ${OAUTH_DEVICE_PAGE_PATH}`:
          return sendPage(res, await service.devicePage(url.searchParams));
        case `POST ${OAUTH_DEVICE_AUTHORIZATION_PATH}`:
          return sendJson(res, 200, service.deviceAuthorization(await readForm(req)));
        case `POST ${OAUTH_TOKEN_PATH}`: {
          const form = await readForm(req);
          const parsed = oauthTokenRequestSchema.safeParse(Object.fromEntries(form));
          if (!parsed.success) {
            const issue = parsed.error.issues[0]!;
            const field = issue.path.map(String).join('.') || 'grant_type';
            const error = field === 'grant_type' ? 'unsupported_grant_type' : field === 'client_id' ? 'invalid_client' : 'invalid_request';
            // Never echo a value: the form carries codes, verifiers and refresh tokens.
            throw new OAuthFailure(400, error, `${field}: ${issue.message}`);
          }
          const answer = await service.token(parsed.data, { deviceToken: headerText(req.headers[DEVICE_TOKEN_HEADER]), controlUrl: options.controlUrl(req) });
          return sendJson(res, 200, answer);
        }
        case `POST ${OAUTH_REVOKE_PATH}`: {
          const form = await readForm(req);
          await service.revokeToken(form.get('token'), headerText(req.headers[DEVICE_TOKEN_HEADER]));
          return sendJson(res, 200, {});
        }
        default:
          return sendOAuthError(res, 404, 'invalid_request', `no route ${method} ${url.pathname}`);
      }
    } catch (err) {
      if (err instanceof OAuthFailure) return sendOAuthError(res, err.status, err.error, err.message);
      if (err instanceof HttpError) return sendOAuthError(res, err.status, 'invalid_request', err.message);
      options.logger.error({ err, route: `${method} ${url.pathname}` }, 'SSO request failed');
      sendOAuthError(res, 500, 'server_error', 'the gateway failed; see its log');
    }
  };
}
