// The admin API, /admin/v1/...: JSON only, a bearer admin token compared in constant time, loopback
// callers only unless configured otherwise. Routes are a table; handlers call the control plane.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Logger } from '../../../lib/index.ts';
import { ControlError, bearerToken, type ApprovalQueueItem, type ControlPlane } from '../control/index.ts';
import type { AdminToken } from './admin-token.ts';
import type { CatalogItemRecord, DeviceRecord, SsoUserRecord, StoredEvent, VirtualKeyRecord } from '../store/index.ts';
import { StoreUnavailableError } from '../store/index.ts';
import type { SsoService } from '../sso/index.ts';
import { HttpError, parseInput, readJsonBody, sendJson } from '../http/index.ts';
import {
  appIdParam,
  assignKeySchema,
  budgetsPatchSchema,
  deleteItemsSchema,
  mergeSchema,
  catalogQuerySchema,
  createKeySchema,
  decisionSchema,
  eventsQuerySchema,
  fingerprintParam,
  generateCaSchema,
  settingsPatchSchema,
  uploadCaSchema,
} from './schemas.ts';

export const ADMIN_PREFIX = '/admin/v1/';

export interface AdminApiOptions {
  control: ControlPlane;
  logger: Logger;
  adminToken: AdminToken;
  /** Serve callers that are not on loopback (only behind TLS and a network you trust). */
  allowRemote: boolean;
  /** Devices with a live websocket on any replica (the hub's view of `device_connections`). */
  connectedDevices: () => Promise<ReadonlySet<string>>;
  /** Single sign-on (people, their keys); undefined when not configured. */
  sso?: SsoService | undefined;
}

interface Context {
  url: URL;
  params: Record<string, string>;
  /** The request body: JSON read from the wire (at most `maxBytes`), or the object an in-process caller passed. */
  body: (maxBytes?: number) => Promise<unknown>;
}

/** An admin API answer: the HTTP status and the JSON body (`{ error: { code, message, field? } }` when it failed). */
export interface AdminResult {
  status: number;
  body: unknown;
}

/**
 * The admin API: `handle` serves HTTP (loopback unless allowed, bearer admin token); `call` runs the
 * same routes, validation and control-plane verbs for an in-process caller that authenticated its
 * administrator itself (the console, with its session and CSRF token): one write path, not two.
 */
export interface AdminApi {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  call(method: string, pathAndQuery: string, body?: unknown): Promise<AdminResult>;
}

interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  pattern: RegExp;
  handle: (ctx: Context) => Promise<{ status?: number; body: unknown }>;
}

function catalogItemJson(item: CatalogItemRecord) {
  return {
    ...(item.kind === 'app' ? { id: item.id } : { fingerprint: item.id, app: item.app, transport: item.transport }),
    display_name: item.displayName,
    status: item.status,
    fleet_count: item.fleetCount,
    first_seen_at: item.firstSeenAt,
    last_seen_at: item.lastSeenAt,
    decided_at: item.decidedAt,
    user_decisions: item.userDecisions.map((d) => ({ user_id: d.userId, user_email: d.userEmail, status: d.status, decided_at: d.decidedAt })),
  };
}

function approvalJson(item: ApprovalQueueItem) {
  return {
    kind: item.kind,
    ...(item.kind === 'app' ? { id: item.id } : { fingerprint: item.id }),
    display_name: item.displayName,
    fleet_count: item.fleetCount,
    first_seen_at: item.firstSeenAt,
    requests: item.requests.map((r) => ({
      at: r.at, device_id: r.deviceId, hostname: r.hostname, os_user: r.osUser, user_id: r.userId, user_email: r.userEmail, reason: r.reason,
    })),
  };
}

function deviceJson(d: DeviceRecord, connected: boolean) {
  return {
    id: d.id,
    hostname: d.hostname,
    owner: { id: d.ownerUserId, email: d.ownerEmail },
    os: d.os,
    os_version: d.osVersion,
    arch: d.arch,
    agent_version: d.agentVersion,
    users: d.reportedUsers,
    enrolled_at: d.enrolledAt,
    last_seen_at: d.lastSeenAt,
    revoked_at: d.revokedAt,
    key_bound: d.publicKey !== null,
    connected,
  };
}

function keyJson(k: VirtualKeyRecord) {
  return {
    id: k.id,
    user: { id: k.userId, email: k.userEmail },
    name: k.name,
    prefix: k.prefix,
    created_at: k.createdAt,
    revoked_at: k.revokedAt,
    last_used_at: k.lastUsedAt,
  };
}

/** The email of every user the events belong to, so an inference event names its person like an agent event names its OS user. */
async function userEmails(control: ControlPlane, events: readonly StoredEvent[]): Promise<Map<string, string>> {
  const emails = new Map<string, string>();
  for (const id of new Set(events.map((e) => e.userId))) {
    if (id === null) continue;
    const user = await control.store.findUser(id);
    if (user) emails.set(id, user.email);
  }
  return emails;
}

function eventJson(e: StoredEvent, emails: ReadonlyMap<string, string>) {
  return {
    id: e.id,
    source: e.source,
    device_id: e.deviceId,
    seq: e.seq,
    type: e.type,
    at: e.at,
    app: e.app,
    os_user: e.osUser,
    user_id: e.userId,
    user_email: e.userId === null ? null : (emails.get(e.userId) ?? null),
    attrs: e.attrs,
    received_at: e.receivedAt,
  };
}

function stripUndefined<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

export function createAdminApi(options: AdminApiOptions): AdminApi {
  const { control } = options;

  const decide = (kind: 'app' | 'mcp') => async (ctx: Context) => {
    const id = kind === 'app' ? parseInput(appIdParam, ctx.params['id'], { prefix: 'id', echo: true }) : parseInput(fingerprintParam, ctx.params['id'], { prefix: 'fingerprint', echo: true });
    const body = parseInput(decisionSchema, await ctx.body(), { echo: true });
    return { body: catalogItemJson(await control.decide(kind, id, body.status, body.user)) };
  };

  const itemId = (kind: 'app' | 'mcp', value: string | undefined) =>
    kind === 'app' ? parseInput(appIdParam, value, { prefix: 'id', echo: true }) : parseInput(fingerprintParam, value, { prefix: 'fingerprint', echo: true });

  const deleteOne = (kind: 'app' | 'mcp') => async (ctx: Context) => {
    const id = itemId(kind, ctx.params['id']);
    if ((await control.deleteCatalogItems(kind, [id])) === 0) {
      throw new ControlError('not_found', `no ${kind === 'app' ? 'app' : 'MCP server'} ${JSON.stringify(id)} in the catalog`, kind === 'app' ? 'id' : 'fingerprint');
    }
    return { body: { deleted: 1 } };
  };

  const deleteMany = (kind: 'app' | 'mcp') => async (ctx: Context) => {
    const body = parseInput(deleteItemsSchema(kind), await ctx.body(16 * 1024 * 1024));
    return { body: { deleted: await control.deleteCatalogItems(kind, body.ids) } };
  };

  const merge = (kind: 'app' | 'mcp') => async (ctx: Context) => {
    const from = itemId(kind, ctx.params['id']);
    const body = parseInput(mergeSchema(kind), await ctx.body(), { echo: true });
    return { body: catalogItemJson(await control.mergeCatalogItem(kind, from, body.into)) };
  };

  const listCatalog = async (kind: 'app' | 'mcp', ctx: Context) => {
    const { status } = parseInput(catalogQuerySchema, Object.fromEntries(ctx.url.searchParams), { echo: true });
    const items = await control.listCatalog(kind);
    return status === undefined ? items : items.filter((item) => item.status === status);
  };

  const requireSso = (): SsoService => {
    if (!options.sso) throw new HttpError(404, 'not_found', 'single sign-on is not configured on this gateway (sso in its config); users appear with virtual keys (GET /admin/v1/keys)');
    return options.sso;
  };
  const userJson = (u: SsoUserRecord) => ({
    id: u.id,
    email: u.email,
    name: u.name,
    groups: u.groups,
    issuer: u.issuer,
    created_at: u.createdAt,
    disabled_at: u.disabledAt,
    assigned_virtual_key: u.assignedVirtualKey,
    // The key the person gets now, as a reference: never its value.
    ...requireSso().keyReferenceOf(u),
  });

  const routes: Route[] = [
    { method: 'GET', pattern: /^users$/, handle: async () => ({ body: { users: (await requireSso().listUsers()).map(userJson) } }) },
    { method: 'POST', pattern: /^users\/(?<id>[^/]+)\/disable$/, handle: async (ctx) => ({ body: userJson(await requireSso().setDisabled(ctx.params['id']!, true)) }) },
    { method: 'POST', pattern: /^users\/(?<id>[^/]+)\/enable$/, handle: async (ctx) => ({ body: userJson(await requireSso().setDisabled(ctx.params['id']!, false)) }) },
    {
      method: 'PUT',
      pattern: /^users\/(?<id>[^/]+)\/virtual-key$/,
      handle: async (ctx) => {
        const body = parseInput(assignKeySchema, await ctx.body(), { echo: true });
        return { body: userJson(await requireSso().assignKey(ctx.params['id']!, body.virtual_key)) };
      },
    },
    { method: 'GET', pattern: /^settings$/, handle: async () => ({ body: await control.getSettings() }) },
    {
      method: 'PATCH',
      pattern: /^settings$/,
      handle: async (ctx) => ({ body: await control.updateSettings(parseInput(settingsPatchSchema, await ctx.body(), { echo: true })) }),
    },
    {
      method: 'POST',
      pattern: /^admin-token\/rotate$/,
      handle: async () => {
        const token = await options.adminToken.rotate();
        options.logger.warn('admin token rotated: the previous one no longer works');
        // The caller may be remote (no access to the file): it gets the new token once, like a new virtual key.
        return { body: { token, file: options.adminToken.file } };
      },
    },
    { method: 'GET', pattern: /^budgets$/, handle: () => Promise.resolve({ body: control.budgets() }) },
    {
      method: 'PATCH',
      pattern: /^budgets$/,
      handle: async (ctx) => ({ body: await control.updateBudgets(stripUndefined(parseInput(budgetsPatchSchema, await ctx.body(), { echo: true }))) }),
    },
    { method: 'POST', pattern: /^apps\/delete$/, handle: deleteMany('app') },
    { method: 'POST', pattern: /^mcp-servers\/delete$/, handle: deleteMany('mcp') },
    { method: 'DELETE', pattern: /^apps\/(?<id>[^/]+)$/, handle: deleteOne('app') },
    { method: 'DELETE', pattern: /^mcp-servers\/(?<id>[^/]+)$/, handle: deleteOne('mcp') },
    { method: 'POST', pattern: /^apps\/(?<id>[^/]+)\/merge$/, handle: merge('app') },
    { method: 'POST', pattern: /^mcp-servers\/(?<id>[^/]+)\/merge$/, handle: merge('mcp') },
    { method: 'GET', pattern: /^approvals$/, handle: async () => ({ body: { approvals: (await control.approvalQueue()).map(approvalJson) } }) },
    { method: 'GET', pattern: /^apps$/, handle: async (ctx) => ({ body: { apps: (await listCatalog('app', ctx)).map(catalogItemJson) } }) },
    { method: 'POST', pattern: /^apps\/(?<id>[^/]+)\/decision$/, handle: decide('app') },
    { method: 'GET', pattern: /^mcp-servers$/, handle: async (ctx) => ({ body: { mcp_servers: (await listCatalog('mcp', ctx)).map(catalogItemJson) } }) },
    { method: 'POST', pattern: /^mcp-servers\/(?<id>[^/]+)\/decision$/, handle: decide('mcp') },
    {
      method: 'GET',
      pattern: /^devices$/,
      handle: async () => {
        const [devices, connected] = await Promise.all([control.listDevices(), options.connectedDevices()]);
        return { body: { devices: devices.map((d) => deviceJson(d, connected.has(d.id))) } };
      },
    },
    {
      method: 'GET',
      pattern: /^devices\/(?<id>[^/]+)$/,
      handle: async (ctx) => {
        const id = ctx.params['id']!;
        const device = await control.store.getDevice(id);
        if (!device) throw new ControlError('not_found', `no device ${JSON.stringify(id)}; devices list (GET /admin/v1/devices) shows the enrolled ones`, 'id');
        const inventory = await control.store.deviceInventory(id);
        return {
          body: {
            ...deviceJson(device, (await options.connectedDevices()).has(id)),
            inventory: { apps: inventory.apps, mcp_servers: inventory.mcpServers, mcp_errors: inventory.mcpErrors },
          },
        };
      },
    },
    {
      method: 'POST',
      pattern: /^devices\/(?<id>[^/]+)\/revoke$/,
      handle: async (ctx) => {
        const { device, revokedKeyIds } = await control.revokeDevice(ctx.params['id']!);
        return { body: { ...deviceJson(device, false), revoked_key_ids: revokedKeyIds } };
      },
    },
    {
      method: 'POST',
      pattern: /^devices\/(?<id>[^/]+)\/reset$/,
      handle: async (ctx) => ({ body: deviceJson(await control.resetDevice(ctx.params['id']!), false) }),
    },
    { method: 'GET', pattern: /^keys$/, handle: async () => ({ body: { keys: (await control.listVirtualKeys()).map(keyJson) } }) },
    {
      method: 'POST',
      pattern: /^keys$/,
      handle: async (ctx) => {
        const body = parseInput(createKeySchema, await ctx.body(), { echo: true });
        const { key, record } = await control.createVirtualKey({ email: body.user_email, name: body.name });
        // The only time the key exists outside its holder: it is not stored, only its hash.
        return { status: 201, body: { ...keyJson(record), key } };
      },
    },
    {
      method: 'POST',
      pattern: /^keys\/(?<id>[^/]+)\/revoke$/,
      handle: async (ctx) => ({ body: keyJson(await control.revokeVirtualKey(ctx.params['id']!)) }),
    },
    {
      method: 'GET',
      pattern: /^events$/,
      handle: async (ctx) => {
        const q = parseInput(eventsQuerySchema, Object.fromEntries(ctx.url.searchParams), { echo: true });
        const since = q.since === undefined ? undefined : new Date(q.since).toISOString();
        const events = await control.queryEvents({ deviceId: q.device, user: q.user, app: q.app, type: q.type, since, beforeId: q.before, limit: q.limit });
        const last = events[events.length - 1];
        const emails = await userEmails(control, events);
        return { body: { events: events.map((e) => eventJson(e, emails)), next_before: events.length === q.limit && last ? last.id : null } };
      },
    },
    {
      method: 'GET',
      pattern: /^ca$/,
      handle: async () => {
        const info = await control.caInfo();
        if (!info) throw new ControlError('not_found', 'the gateway holds no CA: generate one (POST /admin/v1/ca/generate) or upload one (PUT /admin/v1/ca)');
        return { body: caJson(info) };
      },
    },
    {
      method: 'POST',
      pattern: /^ca\/generate$/,
      handle: async (ctx) => {
        const body = parseInput(generateCaSchema, await ctx.body(), { echo: true });
        return {
          status: 201,
          body: caJson(await control.generateCa({ domains: body.domains, commonName: body.common_name, organization: body.organization })),
        };
      },
    },
    {
      method: 'PUT',
      pattern: /^ca$/,
      handle: async (ctx) => {
        const body = parseInput(uploadCaSchema, await ctx.body(256 * 1024));
        return { body: caJson(await control.uploadCa(body.cert_pem, body.key_pem)) };
      },
    },
  ];

  /** Runs the route for `method` and `url`; throws HttpError or ControlError for a refusal. */
  const dispatch = async (method: string, url: URL, body: Context['body']): Promise<AdminResult> => {
    const rest = url.pathname.slice(ADMIN_PREFIX.length);
    let pathMatched = false;
    for (const route of routes) {
      const match = route.pattern.exec(rest);
      if (!match) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params = Object.fromEntries(Object.entries(match.groups ?? {}).map(([k, v]) => [k, decodeURIComponent(v)]));
      const result = await route.handle({ url, params, body });
      return { status: result.status ?? 200, body: result.body };
    }
    if (pathMatched) throw new HttpError(405, 'method_not_allowed', `${method} is not allowed on ${url.pathname}`);
    throw new HttpError(404, 'not_found', `no admin route ${url.pathname}`);
  };

  /** The error answer for a refusal; anything else is a bug, logged without the request's body. */
  const failure = (err: unknown, method: string | undefined, where: string | undefined): AdminResult & { code: string } => {
    const error = (status: number, code: string, message: string, field?: string) => ({
      status,
      code,
      body: { error: { code, message, ...(field === undefined ? {} : { field }) } },
    });
    if (err instanceof HttpError) return error(err.status, err.code, err.message, err.field);
    if (err instanceof ControlError) {
      const status = { invalid: 400, not_found: 404, unauthorized: 401, revoked: 403, conflict: 409, virtual_key_login_disabled: 403 }[err.code];
      return error(status, err.code, err.message, err.field);
    }
    if (err instanceof URIError) return error(400, 'invalid', 'malformed percent-encoding in the path');
    if (err instanceof StoreUnavailableError) {
      options.logger.warn({ err: (err.cause as Error | undefined)?.message, method, url: where }, 'admin request refused: the gateway database is unreachable');
      return error(503, 'store_unavailable', 'the gateway database is unreachable: nothing was changed; retry when it is back (GET /readyz says when)');
    }
    options.logger.error({ err, method, url: where }, 'admin request failed');
    return error(500, 'internal', 'the request failed; see the gateway log');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      if (!options.allowRemote && !isLoopback(req.socket.remoteAddress)) {
        throw new HttpError(403, 'forbidden', 'the admin API answers loopback callers only (set admin.allow_remote in the gateway config to change this)');
      }
      const token = bearerToken(req.headers.authorization);
      if (!token || !(await options.adminToken.verify(token))) {
        res.setHeader('www-authenticate', 'Bearer realm="heimdall-gateway admin"');
        throw new HttpError(401, 'unauthorized', 'missing or wrong admin token (Authorization: Bearer <admin token>)');
      }
      const url = new URL(req.url ?? '/', 'http://gateway');
      const result = await dispatch(req.method ?? '', url, (maxBytes) => readJsonBody(req, maxBytes));
      sendJson(res, result.status, result.body);
    } catch (err) {
      const result = failure(err, req.method, req.url);
      if (result.status === 408 || result.status === 413 || result.status === 429) res.shouldKeepAlive = false;
      sendJson(res, result.status, result.body);
    }
  };

  const call = async (method: string, pathAndQuery: string, body?: unknown): Promise<AdminResult> => {
    try {
      return await dispatch(method, new URL(`${ADMIN_PREFIX}${pathAndQuery}`, 'http://gateway'), () => Promise.resolve(body ?? {}));
    } catch (err) {
      return failure(err, method, `${ADMIN_PREFIX}${pathAndQuery}`);
    }
  };

  return { handle, call };
}

function caJson(info: NonNullable<Awaited<ReturnType<ControlPlane['caInfo']>>>) {
  return {
    cert_pem: info.certPem,
    fingerprint_sha256: info.fingerprintSha256,
    subject: info.subject,
    not_before: info.notBefore,
    not_after: info.notAfter,
    permitted: info.permitted,
    source: info.source,
    created_at: info.createdAt,
  };
}
