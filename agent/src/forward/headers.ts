// Pure header and URL rewriting for one forwarded request: hop-by-hop removal, credential swap,
// attribution headers. Kept free of sockets so every rule is testable on plain objects.
import { DEVICE_TOKEN_HEADER, USER_TOKEN_HEADER } from '../../../protocol/index.ts';
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayRouteRow } from './routes.ts';

/** RFC 9110 7.6.1 hop-by-hop headers, plus the de-facto `proxy-connection`. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const HOP_BY_HOP_SET = new Set(HOP_BY_HOP);

/** Headers never shown to policy or audit, whatever the route. */
const SECRET_HEADERS = new Set([DEVICE_TOKEN_HEADER, USER_TOKEN_HEADER, 'authorization', 'x-api-key', 'x-goog-api-key', 'api-key', 'cookie', 'proxy-authorization', 'x-bf-vk', 'openai-organization', 'chatgpt-account-id']);

/**
 * Removes hop-by-hop headers, and those the `Connection` header names. For a websocket upgrade
 * `connection` and `upgrade` are end-to-end in effect and must reach the next hop.
 */
export function removeHopByHop(headers: IncomingHttpHeaders, keepUpgrade: boolean): void {
  const named = String(headers.connection ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
  for (const name of [...HOP_BY_HOP, ...named]) {
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) continue;
    delete headers[name];
  }
  if (keepUpgrade) {
    headers.connection = 'Upgrade';
  }
}

/** removeHopByHop for a flat name/value list (a response head as received), as a new list. */
export function endToEndFields(raw: readonly string[]): string[] {
  let named: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') named = named.concat(raw[i + 1]!.split(',').map((t) => t.trim().toLowerCase()));
  }
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP_SET.has(name) && !named.includes(name)) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** A copy of the request headers with secrets dropped, for policy decisions and logs. */
export function headersWithoutSecrets(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || SECRET_HEADERS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

// Catalog ids (`claude-code`) and the identify room's ids for apps no catalog row names
// (`exe:<hash>`, `script:node:<hash>`): the latter are the shadow AI the gateway most needs to see,
// so `:` is allowed, as the gateway's own check allows it (docs/inference.md).
const APP_ID_PATTERN = /^[a-z0-9][a-z0-9._:-]{0,63}$/;

/** `x-bf-dim-app` must be a bounded label: an app id or `unknown`, never free text. */
export function boundedAppId(appId: string | undefined): string {
  const id = (appId ?? '').toLowerCase();
  return APP_ID_PATTERN.test(id) ? id : 'unknown';
}

/**
 * What a governed request is sent to the gateway under: the OS user's SSO access token, their
 * virtual key, or (the org's `unattributed: device` setting, nobody signed in) the device alone.
 */
export type GatewayCredential = { kind: 'user_token'; token: string } | { kind: 'virtual_key'; key: string } | { kind: 'device_only' };

export interface GatewayHeaderInput {
  route: GatewayRouteRow;
  passthrough: boolean;
  credential: GatewayCredential;
  requestId: string;
  appId: string | undefined;
  deviceId: string;
  /** The short-lived device token that proves this device to a Heimdall gateway; absent while there is none. */
  deviceToken?: string | undefined;
}

/** Applies the routing mode's credential rules and attribution headers in place. */
export function applyGatewayHeaders(headers: IncomingHttpHeaders, input: GatewayHeaderInput): void {
  const keepNative = input.passthrough || input.route.credentialPolicy === 'native-only';
  const { credential } = input;
  // Whatever the app sent under these names is not the person's proof: only the daemon sets them.
  delete headers[USER_TOKEN_HEADER];
  delete headers['x-bf-vk'];
  if (keepNative) {
    headers['x-bf-direct-key'] = 'true';
  } else {
    for (const name of ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key', ...input.route.credentialHeaders]) delete headers[name];
    // With a user token or the device alone, the gateway resolves the virtual key on its side: none travels.
    if (credential.kind === 'virtual_key') headers.authorization = `Bearer ${credential.key}`;
  }
  if (credential.kind === 'virtual_key') headers['x-bf-vk'] = credential.key;
  if (credential.kind === 'user_token') headers[USER_TOKEN_HEADER] = credential.token;
  headers['x-request-id'] = input.requestId;
  headers['x-bf-dim-app'] = boundedAppId(input.appId);
  // For a Bifrost upstream, which reads these dimensions; a Heimdall gateway ignores x-bf-dim-device
  // and attributes the request to the device its device token proves.
  headers['x-bf-dim-device'] = input.deviceId;
  delete headers[DEVICE_TOKEN_HEADER];
  if (input.deviceToken !== undefined) headers[DEVICE_TOKEN_HEADER] = input.deviceToken;
}

/** Drops credential-carrying query parameters (`?key=` for Google) from a path with query. */
export function stripCredentialQuery(pathAndQuery: string, params: readonly string[]): string {
  if (params.length === 0) return pathAndQuery;
  const q = pathAndQuery.indexOf('?');
  if (q < 0) return pathAndQuery;
  const search = new URLSearchParams(pathAndQuery.slice(q + 1));
  let changed = false;
  for (const p of params) {
    if (search.has(p)) {
      search.delete(p);
      changed = true;
    }
  }
  if (!changed) return pathAndQuery;
  const rest = search.toString();
  return pathAndQuery.slice(0, q) + (rest ? `?${rest}` : '');
}

/** The app's request id if it sent a sane one, else a new one. */
export function requestIdFrom(headers: IncomingHttpHeaders, generate: () => string): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && /^[\x21-\x7e]{1,128}$/.test(given)) return given;
  return generate();
}
