// The admin console, served under /console/ on the admin API's listener: server-rendered pages over the
// control plane, every change through the admin API, sessions kept on the server behind an HttpOnly,
// SameSite=Strict cookie (Secure with TLS), a CSRF token in every form, and the admin API's exposure
// rule (loopback, or TLS with admin.allow_remote). Administrators sign in with the admin token or
// through the organization's IdP (the SSO room decides who is an administrator).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Clock, Logger } from '../../../lib/index.ts';
import type { AdminApi, AdminToken } from '../admin/index.ts';
import type { ControlPlane } from '../control/index.ts';
import type { ConsoleSignIns } from '../sso/index.ts';
import { readFormBody } from '../http/index.ts';
import { findAction } from './actions.ts';
import { ASSETS } from './assets.ts';
import type { ConsoleDeps, PageHandler } from './deps.ts';
import { cookieValue, refusedCaller, refusedOrigin } from './guard.ts';
import { signedInPage } from './page-signed-in.ts';
import type { Html } from './html.ts';
import { appItemPage, appsPage, mcpItemPage, mcpServersPage } from './page-catalog.ts';
import { devicesPage } from './page-devices.ts';
import { eventsPage } from './page-events.ts';
import { keysPage } from './page-keys.ts';
import { overviewPage } from './page-overview.ts';
import { settingsPage } from './page-settings.ts';
import { refusedPage, signInPage } from './page-sign-in.ts';
import { StoreUnavailableError } from '../store/index.ts';
import { adminName, ConsoleSessions, csrfMatches, DEFAULT_SESSION_LIMITS, type ConsoleAdmin, type SessionLimits } from './sessions.ts';

export const CONSOLE_PREFIX = '/console';
/** Where the sign-in page's IdP buttons go: the start of a console sign-in at that IdP. */
export const CONSOLE_SSO_START_PATH = '/console/sso/start';
/** Where the IdP sends administrators back (register it at the IdP next to /oauth/callback). */
export const CONSOLE_SSO_CALLBACK_PATH = '/console/sso/callback';

export interface ConsoleOptions {
  control: ControlPlane;
  admin: AdminApi;
  adminToken: AdminToken;
  /** Devices with a live websocket on any replica. */
  connectedDevices: () => Promise<ReadonlySet<string>>;
  clock: Clock;
  logger: Logger;
  allowRemote: boolean;
  /** Whether the listener speaks TLS: the cookie is then Secure and remote callers may be served. */
  tls: boolean;
  sessionLimits?: SessionLimits;
  /** Console sign-in through the organization's IdPs, when SSO is configured. */
  sso?: ConsoleSignIns | undefined;
}

export interface GatewayConsole {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /**
   * Starts an administrator's console session (cookie and all) and sends the browser to the overview.
   * The caller must have authenticated the person and checked that they are an administrator; this
   * only trusts it (the token form and the SSO callback below are its callers).
   */
  startSession(res: ServerResponse, admin: ConsoleAdmin): Promise<void>;
  readonly sessions: ConsoleSessions;
}

const PAGES: Record<string, PageHandler> = {
  '/console/': overviewPage,
  '/console/apps': appsPage,
  '/console/apps/item': appItemPage,
  '/console/mcp-servers': mcpServersPage,
  '/console/mcp-servers/item': mcpItemPage,
  '/console/devices': devicesPage,
  '/console/settings': settingsPage,
  '/console/keys': keysPage,
  '/console/events': eventsPage,
};

// Only this console's own files: no third-party origin, no inline script or style.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on form posts, and the origin check needs the real one.
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function createConsole(options: ConsoleOptions): GatewayConsole {
  const sessions = new ConsoleSessions(options.control.store, options.clock, options.sessionLimits ?? DEFAULT_SESSION_LIMITS);
  // A rotation answers a leaked token: whoever signed in with it is signed out with it, on every replica
  // (the sessions are in the shared store).
  options.adminToken.onRotate(async () => {
    const ended = await sessions.endAll('admin_token');
    if (ended > 0) options.logger.warn({ sessions: ended }, 'admin token rotated: console sessions signed in with it ended');
  });
  const deps: ConsoleDeps = { control: options.control, admin: options.admin, connectedDevices: options.connectedDevices, clock: options.clock };
  const cookieName = options.tls ? '__Secure-heimdall-console' : 'heimdall-console';
  // Binds an SSO sign-in to the browser that started it. Lax, not Strict: the IdP's redirect back is a
  // cross-site navigation, on which a Strict cookie would not be sent.
  const ssoCookieName = options.tls ? '__Secure-heimdall-console-sso' : 'heimdall-console-sso';
  const ssoCookie = (value: string, maxAgeS: number): string =>
    `${ssoCookieName}=${value}; Path=/console/sso; HttpOnly; SameSite=Lax; Max-Age=${maxAgeS}${options.tls ? '; Secure' : ''}`;
  const ssoProviders = (): { id: string; name: string }[] => options.sso?.providers() ?? [];
  const signInForm = (error?: string): Html => signInPage({ ...(error ? { error } : {}), providers: ssoProviders().map((p) => ({ name: p.name, href: `${CONSOLE_SSO_START_PATH}?idp=${encodeURIComponent(p.id)}` })) });
  /** An audit event naming who did what in the console (shown on the Events page, kept with the fleet's). */
  const audit = (type: string, admin: ConsoleAdmin | undefined, attrs: Record<string, string | number | boolean | null>): void => {
    const who: Record<string, string> = admin === undefined ? {} : admin.method === 'sso' ? { method: 'sso', email: admin.email, issuer: admin.issuer } : { method: 'admin_token' };
    options.control
      .recordGatewayEvent({ type, at: new Date(options.clock.now()).toISOString(), userId: admin?.method === 'sso' ? admin.userId : null, attrs: { ...who, ...attrs } })
      .catch((err: unknown) => options.logger.error({ err, type }, 'failed to store a console audit event'));
  };
  const maxAgeS = Math.floor(sessions.limits.absoluteMs / 1000);

  const send = (res: ServerResponse, status: number, body: Html | string, started: number, extra: Record<string, string | string[]> = {}): void => {
    const text = typeof body === 'string' ? body : body.text;
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(text),
      // The server's own time for this page (npm run bench reads it).
      'server-timing': `app;dur=${(performance.now() - started).toFixed(2)}`,
      ...extra,
    });
    res.end(text);
  };
  const redirect = (res: ServerResponse, location: string, extra: Record<string, string> = {}): void => {
    res.writeHead(303, { ...SECURITY_HEADERS, location, 'cache-control': 'no-store', 'content-length': 0, ...extra });
    res.end();
  };
  const sessionCookie = (id: string): string => `${cookieName}=${id}; Path=${CONSOLE_PREFIX}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${options.tls ? '; Secure' : ''}`;
  const clearedCookie = `${cookieName}=; Path=${CONSOLE_PREFIX}; HttpOnly; SameSite=Strict; Max-Age=0${options.tls ? '; Secure' : ''}`;

  const startSession = async (res: ServerResponse, admin: ConsoleAdmin): Promise<void> => {
    const { id } = await sessions.create(admin);
    options.logger.info({ method: admin.method, ...(admin.method === 'sso' ? { email: admin.email, issuer: admin.issuer } : {}) }, 'console sign-in');
    audit('console.sign_in', admin, {});
    redirect(res, '/console/', { 'set-cookie': sessionCookie(id) });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    try {
      const refused = refusedCaller(req, options);
      if (refused) return send(res, 403, refusedPage(refused), started);
      const url = new URL(req.url ?? '/', 'http://gateway');
      const { pathname } = url;
      const method = req.method ?? 'GET';
      if (method === 'GET') {
        const asset = ASSETS.get(pathname);
        if (asset) {
          res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'public, max-age=31536000, immutable' });
          return void res.end(asset.body);
        }
        if (pathname === CONSOLE_PREFIX) return redirect(res, '/console/');
      }
      if (pathname === CONSOLE_SSO_START_PATH || pathname === CONSOLE_SSO_CALLBACK_PATH) {
        if (method !== 'GET') return send(res, 405, refusedPage('Start from the sign-in page.'), started, { allow: 'GET' });
        if (!options.sso || ssoProviders().length === 0) return send(res, 404, refusedPage('No identity provider signs in console administrators here: sign in with the admin token.'), started);
        if (pathname === CONSOLE_SSO_START_PATH) {
          const begun = await options.sso.begin(url.searchParams.get('idp') ?? undefined, CONSOLE_SSO_CALLBACK_PATH);
          if (!begun.ok) return send(res, begun.status, refusedPage(`${begun.title}: ${begun.message}`), started);
          return redirect(res, begun.redirect, { 'set-cookie': ssoCookie(begun.browserNonce, 600) });
        }
        const finished = await options.sso.finish(url.searchParams, cookieValue(req, ssoCookieName));
        const spent = { 'set-cookie': ssoCookie('', 0) };
        if (!finished.ok) {
          if (finished.person) audit('console.sign_in_refused', undefined, { method: 'sso', email: finished.person.email, issuer: finished.person.issuer, reason: finished.title });
          return send(res, finished.status, refusedPage(`${finished.title}: ${finished.message}`), started, spent);
        }
        const admin: ConsoleAdmin = { method: 'sso', ...finished.admin };
        const { id } = await sessions.create(admin);
        options.logger.info({ method: 'sso', email: admin.email, issuer: admin.issuer }, 'console sign-in');
        audit('console.sign_in', admin, {});
        return send(res, 200, signedInPage(adminName(admin)), started, { 'set-cookie': [sessionCookie(id), spent['set-cookie']] });
      }
      if (pathname === '/console/sign-in') {
        if (method === 'GET') return send(res, 200, signInForm(), started);
        if (method !== 'POST') return send(res, 405, refusedPage('Use the sign-in form.'), started, { allow: 'GET, POST' });
        const why = refusedOrigin(req, options.tls);
        if (why) return send(res, 403, refusedPage(`Refused: ${why}.`), started);
        const form = await readFormBody(req, 4096);
        const token = (form.get('token') ?? '').trim();
        if (!token || !(await options.adminToken.verify(token))) {
          options.logger.warn({ remote: req.socket.remoteAddress }, 'console sign-in refused: wrong admin token');
          return send(res, 401, signInForm('That is not the admin token.'), started);
        }
        return startSession(res, { method: 'admin_token' });
      }

      const sessionId = cookieValue(req, cookieName);
      // Only a page shown now displays the flash: it is taken from the store then, and kept otherwise.
      const session = await sessions.use(sessionId, method === 'GET' && PAGES[pathname] !== undefined);
      if (!session) {
        if (method === 'GET' && PAGES[pathname] !== undefined) return redirect(res, '/console/sign-in', sessionId ? { 'set-cookie': clearedCookie } : {});
        return send(res, 401, refusedPage('Sign in first (your session may have expired).'), started);
      }

      if (method === 'POST') {
        const why = refusedOrigin(req, options.tls);
        if (why) return send(res, 403, refusedPage(`Refused: ${why}.`), started);
        const form = await readFormBody(req);
        if (!csrfMatches(session, form.get('csrf'))) {
          options.logger.warn({ path: pathname }, 'console change refused: missing or wrong CSRF token');
          return send(res, 403, refusedPage('Refused: this form is not from your console session (missing or wrong CSRF token). Reload the page and try again.'), started);
        }
        if (pathname === '/console/sign-out') {
          await sessions.end(sessionId);
          audit('console.sign_out', session.admin, {});
          return redirect(res, '/console/sign-in', { 'set-cookie': clearedCookie });
        }
        const action = findAction(pathname);
        if (!action) return send(res, 404, refusedPage(`No console action ${pathname}.`), started);
        const result = await action(deps, form, url);
        await sessions.setFlash(sessionId!, result.flash);
        options.logger.info({ action: pathname, by: adminName(session.admin), outcome: result.flash.kind }, 'console change');
        audit('console.change', session.admin, { action: pathname, outcome: result.flash.kind, message: result.flash.text.slice(0, 300) });
        return redirect(res, result.returnTo);
      }

      if (method !== 'GET' && method !== 'HEAD') return send(res, 405, refusedPage(`${method} is not used by the console.`), started, { allow: 'GET, POST' });
      if (pathname === '/console/ca.pem') {
        const ca = await options.control.caInfo();
        if (!ca) return send(res, 404, refusedPage('The gateway holds no CA.'), started);
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/x-pem-file', 'content-disposition': 'attachment; filename="heimdall-gateway-ca.pem"', 'cache-control': 'no-store' });
        return void res.end(ca.certPem);
      }
      const page = PAGES[pathname];
      if (!page) return send(res, 404, refusedPage(`No console page ${pathname}.`), started);
      return send(res, 200, await page(deps, session, url), started);
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) {
        if (status === 408 || status === 413) res.shouldKeepAlive = false;
        return send(res, status, refusedPage((err as Error).message), started);
      }
      if (err instanceof StoreUnavailableError) {
        options.logger.warn({ err: (err.cause as Error | undefined)?.message, path: (req.url ?? '').split('?')[0] }, 'console request refused: the gateway database is unreachable');
        if (!res.headersSent) return send(res, 503, refusedPage('The gateway database is unreachable: nothing was changed. Try again when it is back.'), started);
        return void res.destroy();
      }
      options.logger.error({ err, method: req.method, path: (req.url ?? '').split('?')[0] }, 'console request failed');
      if (!res.headersSent) send(res, 500, refusedPage('The page failed; see the gateway log.'), started);
      else res.destroy();
    }
  };

  return { handle, startSession, sessions };
}
