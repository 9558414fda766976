// The local API's routes, as a table: what the CLI (and later the per-user helper) may ask the daemon,
// and what each caller may do there. The permission column is the contract docs/security.md lists:
// a non-root caller reads and changes only their own user's data; root sees and acts for all.
import { LOGIN_ERROR_STATUS, LoginError, type SsoLogin } from '../auth/index.ts';
import { inView, type CallerView, type LocalPermission, type LocalRequest, type LocalResponse, type LocalRoute } from '../localapi/index.ts';
import type { McpListRow } from '../mcp/index.ts';
import type { SeenAppRow } from '../policy/index.ts';
import type { InterceptionStatus, ProxyEnvironmentFacts } from './interception.ts';
import type { DaemonStatus, StatusView } from './status.ts';

export interface LocalRouteDeps {
  /** The status as `view` may see it (the daemon leaves out other users' data). */
  status: (view: StatusView) => DaemonStatus;
  login: (request: LocalRequest) => Promise<LocalResponse>;
  /** Signs the OS user out: their virtual key and SSO sign-in are gone; the SSO refresh family is revoked at the gateway. */
  signOut: (osUser: string) => Promise<{ signed_out: boolean; revoked: boolean | null; revoke_error?: string }>;
  /** SSO sign-in (auth room); undefined on a daemon built without it (tests of other routes). */
  sso?: Pick<SsoLogin, 'options' | 'start' | 'finish' | 'startDevice' | 'deviceStatus' | 'whoami'>;
  environment: () => ProxyEnvironmentFacts | undefined;
  caStatus: () => InterceptionStatus['ca'];
  apps: () => SeenAppRow[];
  mcp: () => McpListRow[];
  /**
   * Sends a person's request for an app (`heimdall request-access`) to the gateway's approval queue;
   * `sent`, or `offline` when the sync channel is down, or the validation problem.
   */
  requestAccess: (input: { appId?: string; mcpFingerprint?: string; reason: string; osUser: string }) => { outcome: 'sent'; displayName: string } | { outcome: 'offline' } | { outcome: 'invalid'; error: string };
}

/** Each route's permission, by `METHOD path`: one row per route, nothing implied. */
export const LOCAL_ROUTE_PERMISSIONS = {
  'GET /v1/status': { access: 'read', scope: 'own', unidentified: 'no-user-data' },
  'POST /v1/login': { access: 'write', scope: 'own' },
  'POST /v1/logout': { access: 'write', scope: 'own' },
  // What the gateway offers (SSO, virtual keys): no user's data, any local caller.
  'GET /v1/login/options': { access: 'read', scope: 'machine' },
  // Sign-ins are bound to the caller's uid from the kernel: each may start, finish and read only its own.
  'POST /v1/login/sso/start': { access: 'write', scope: 'own' },
  'POST /v1/login/sso/finish': { access: 'write', scope: 'own' },
  'POST /v1/login/device/start': { access: 'write', scope: 'own' },
  'GET /v1/login/device/:login_id': { access: 'read', scope: 'own' },
  'GET /v1/whoami': { access: 'read', scope: 'own' },
  'GET /v1/proxy-environment': { access: 'read', scope: 'machine' },
  'GET /v1/ca': { access: 'read', scope: 'machine' },
  'GET /v1/apps': { access: 'read', scope: 'own' },
  'GET /v1/mcp': { access: 'read', scope: 'own' },
  'POST /v1/request-access': { access: 'write', scope: 'own' },
} as const satisfies Record<string, LocalPermission>;

type RouteKey = keyof typeof LOCAL_ROUTE_PERMISSIONS;

const notRunning = (what: string): LocalResponse => ({ status: 503, body: { error: `${what}: the interception proxy is not running (see \`heimdall status\`)` } });

function statusView(view: CallerView): StatusView {
  return view.kind === 'user' ? { kind: 'user', osUser: view.osUser } : { kind: view.kind };
}

/** `POST /v1/logout`: body `{}` signs the caller out; root may name `{ "os_user": "..." }` (a departed user). */
async function logout(d: LocalRouteDeps, { view, body }: LocalRequest): Promise<LocalResponse> {
  if (view.kind === 'anonymous') return { status: 403, body: { error: view.reason, code: 'unknown_caller' } };
  const named = (body as { os_user?: unknown } | undefined)?.os_user;
  if (named !== undefined && typeof named !== 'string') return { status: 400, body: { error: 'os_user must be a string', code: 'invalid_request' } };
  const osUser = named ?? (view.kind === 'user' ? view.osUser : view.caller.user);
  if (view.kind === 'user' && osUser !== view.osUser) {
    return { status: 403, body: { error: `only root may sign out another OS user (you are ${view.osUser})`, code: 'not_permitted' } };
  }
  return { status: 200, body: { os_user: osUser, ...(await d.signOut(osUser)) } };
}

/** The caller a sign-in is bound to: always the kernel's, whoever they are (root signs in as root). */
function signInCaller(view: CallerView): { uid: number; osUser: string } | undefined {
  return view.kind === 'anonymous' ? undefined : { uid: view.caller.uid, osUser: view.kind === 'user' ? view.osUser : view.caller.user };
}

/** A LoginError as the local API answers it; anything else is the server's 500. */
async function answering(work: () => unknown): Promise<LocalResponse> {
  try {
    return { status: 200, body: await work() };
  } catch (err) {
    if (err instanceof LoginError) return { status: LOGIN_ERROR_STATUS[err.code], body: { error: err.message, code: err.code } };
    throw err;
  }
}

const NO_SSO: LocalResponse = { status: 501, body: { error: 'this daemon was built without single sign-on', code: 'not_available' } };

/**
 * `POST /v1/request-access` `{ "app": "<app id>", "reason": "..." }` (or `{ "mcp": "<fingerprint>", ... }`):
 * asks the organization for an app or an MCP server as the caller. The person is the caller the kernel names (root asks as root), never a body field.
 */
function requestAccess(d: LocalRouteDeps, { view, body }: LocalRequest): LocalResponse {
  if (view.kind === 'anonymous') return { status: 403, body: { error: view.reason, code: 'unknown_caller' } };
  const { app, mcp, reason } = (body ?? {}) as { app?: unknown; mcp?: unknown; reason?: unknown };
  const isMcp = mcp !== undefined;
  if (isMcp && app !== undefined) return { status: 400, body: { error: 'request: name an app or an MCP server (mcp), not both', code: 'invalid_request' } };
  if (isMcp && (typeof mcp !== 'string' || mcp.trim() === '')) return { status: 400, body: { error: 'mcp: expected the fingerprint `heimdall mcp` shows for the server', code: 'invalid_request' } };
  if (!isMcp && (typeof app !== 'string' || app.trim() === '')) return { status: 400, body: { error: 'app: expected the app id the block message names (e.g. claude-code)', code: 'invalid_request' } };
  if (typeof reason !== 'string' || reason.trim() === '') return { status: 400, body: { error: 'reason: say in a sentence why you need it', code: 'invalid_request' } };
  const osUser = view.kind === 'user' ? view.osUser : view.caller.user;
  const item = isMcp ? { mcpFingerprint: String(mcp).trim() } : { appId: String(app).trim() };
  const result = d.requestAccess({ ...item, reason: reason.trim(), osUser });
  switch (result.outcome) {
    case 'sent':
      return { status: 202, body: { ...(isMcp ? { mcp: item.mcpFingerprint } : { app: item.appId }), display_name: result.displayName, os_user: osUser, sent: true } };
    case 'offline':
      return { status: 503, body: { error: "Heimdall could not reach your organization's AI gateway just now. This is not something you did wrong: try again in a few minutes.", code: 'gateway_unreachable' } };
    case 'invalid':
      return { status: 400, body: { error: result.error, code: 'invalid_request' } };
  }
}

export function localApiRoutes(d: LocalRouteDeps): LocalRoute[] {
  const route = (key: RouteKey, handle: LocalRoute['handle']): LocalRoute => {
    const [method, path] = key.split(' ') as [LocalRoute['method'], string];
    return { method, path, permission: LOCAL_ROUTE_PERMISSIONS[key], handle };
  };
  return [
    route('GET /v1/status', ({ view }) => ({ status: 200, body: d.status(statusView(view)) })),
    // The OS user a virtual key belongs to is the caller, never a field of the body.
    route('POST /v1/login', (r) => d.login(r)),
    route('POST /v1/logout', (r) => logout(d, r)),
    route('GET /v1/login/options', () => (d.sso ? answering(() => d.sso!.options()) : NO_SSO)),
    route('POST /v1/login/sso/start', ({ view, body }) => {
      const caller = signInCaller(view);
      if (!d.sso || !caller) return NO_SSO;
      return answering(() => d.sso!.start(caller, (body as { redirect_uri?: unknown } | undefined)?.redirect_uri));
    }),
    route('POST /v1/login/sso/finish', ({ view, body }) => {
      const caller = signInCaller(view);
      if (!d.sso || !caller) return NO_SSO;
      const b = body as { state?: unknown; code?: unknown } | undefined;
      return answering(() => d.sso!.finish(caller, b?.state, b?.code));
    }),
    route('POST /v1/login/device/start', ({ view }) => {
      const caller = signInCaller(view);
      if (!d.sso || !caller) return NO_SSO;
      return answering(() => d.sso!.startDevice(caller));
    }),
    route('GET /v1/login/device/:login_id', ({ view, param }) => {
      const caller = signInCaller(view);
      if (!d.sso || !caller) return NO_SSO;
      // Another uid's sign-in is answered as unknown: its existence is not confirmed to them.
      const state = param !== undefined ? d.sso.deviceStatus(caller, param) : undefined;
      return state ? { status: 200, body: state } : { status: 404, body: { error: 'no device sign-in with this id was started by you (or it has expired): run `heimdall login --device-code` again', code: 'not_found' } };
    }),
    route('GET /v1/whoami', ({ view }) => {
      const caller = signInCaller(view);
      if (!d.sso || !caller) return NO_SSO;
      return { status: 200, body: d.sso.whoami(caller.osUser) };
    }),
    route('GET /v1/proxy-environment', () => {
      const env = d.environment();
      return env ? { status: 200, body: env } : notRunning('no proxy environment');
    }),
    route('GET /v1/ca', () => {
      const ca = d.caStatus();
      return ca.certificate_path ? { status: 200, body: ca } : notRunning('no interception CA yet');
    }),
    // Apps are kept per app with the user who used each last: a user sees the apps they used last.
    route('GET /v1/apps', ({ view }) => ({ status: 200, body: d.apps().filter((a) => inView(view, a.lastOsUser)) })),
    route('GET /v1/mcp', ({ view }) => ({ status: 200, body: d.mcp().filter((m) => inView(view, m.osUser)) })),
    route('POST /v1/request-access', (r) => requestAccess(d, r)),
  ];
}
