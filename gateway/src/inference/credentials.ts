// Which credentials a request carries (the user's virtual key, the app's own provider key) and the
// header set that leaves the gateway: provider key swapped in, virtual key and x-bf-* headers out.
import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderUpstream } from './config.ts';
import { CREDENTIAL_HEADERS, type OutgoingHeaders, type ProviderId, PROVIDERS } from './providers.ts';

/** Prefix Bifrost gives virtual keys; how a key in a provider's own auth header is told apart. */
export const VIRTUAL_KEY_PREFIX = 'sk-bf-';

export type VirtualKeySource = 'x-bf-vk' | (typeof CREDENTIAL_HEADERS)[number] | 'query';

export interface ClientCredentials {
  virtualKey: string | undefined;
  virtualKeySource: VirtualKeySource | undefined;
  /** `x-bf-direct-key: true`: the app asks to use its own provider credential. */
  directKeyRequested: boolean;
  /** The request carries a provider credential that is not the virtual key. */
  hasNativeCredential: boolean;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The token in a credential header: `Authorization: Bearer X` -> X, `x-api-key: X` -> X. */
function credentialToken(name: string, value: string): string {
  if (name === 'authorization') {
    const m = /^Bearer\s+(.+)$/i.exec(value.trim());
    return m ? m[1]!.trim() : value.trim();
  }
  return value.trim();
}

function queryParams(query: string): { name: string; value: string; raw: string }[] {
  if (!query) return [];
  return query.split('&').map((raw) => {
    const eq = raw.indexOf('=');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch {
        return s;
      }
    };
    return eq < 0 ? { name: decode(raw), value: '', raw } : { name: decode(raw.slice(0, eq)), value: decode(raw.slice(eq + 1)), raw };
  });
}

/**
 * Reads the virtual key the way Bifrost does: `x-bf-vk` first, then any provider auth header
 * (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`, `api-key`) or Google's `?key=`
 * whose value starts with `sk-bf-`. `query` is the raw query string without `?`.
 */
export function readCredentials(headers: IncomingHttpHeaders, query: string): ClientCredentials {
  let virtualKey: string | undefined;
  let virtualKeySource: VirtualKeySource | undefined;
  const explicit = headerValue(headers, 'x-bf-vk')?.trim();
  if (explicit) {
    virtualKey = explicit;
    virtualKeySource = 'x-bf-vk';
  }
  let hasNativeCredential = false;
  for (const name of CREDENTIAL_HEADERS) {
    const raw = headerValue(headers, name);
    if (raw === undefined || raw.trim() === '') continue;
    const token = credentialToken(name, raw);
    if (token.startsWith(VIRTUAL_KEY_PREFIX)) {
      if (virtualKey === undefined) {
        virtualKey = token;
        virtualKeySource = name;
      }
    } else if (token !== virtualKey) {
      hasNativeCredential = true;
    }
  }
  for (const p of queryParams(query)) {
    if (p.name !== 'key' || p.value === '') continue;
    if (p.value.startsWith(VIRTUAL_KEY_PREFIX)) {
      if (virtualKey === undefined) {
        virtualKey = p.value;
        virtualKeySource = 'query';
      }
    } else if (p.value !== virtualKey) {
      hasNativeCredential = true;
    }
  }
  const directKeyRequested = headerValue(headers, 'x-bf-direct-key')?.trim().toLowerCase() === 'true';
  return { virtualKey, virtualKeySource, directKeyRequested, hasNativeCredential };
}

// Hop-by-hop headers (RFC 9110 section 7.6.1), ones Node sets itself for the outgoing request, and
// `expect`: this server already answered the client's 100-continue and streams the body without waiting.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'http2-settings', 'expect',
]);

const NOTHING_LISTED: ReadonlySet<string> = new Set();

function connectionListed(headers: IncomingHttpHeaders): ReadonlySet<string> {
  const v = headers['connection'];
  // Nearly every request says only keep-alive (or nothing): no header names to drop, nothing to build.
  if (v === undefined || v === 'keep-alive' || v === 'close') return NOTHING_LISTED;
  const list = (Array.isArray(v) ? v.join(',') : (v ?? '')).split(',').map((s) => s.trim().toLowerCase());
  return new Set(list.filter((s) => s && s !== 'upgrade' && s !== 'close' && s !== 'keep-alive'));
}

export interface UpstreamHeaderOptions {
  provider: ProviderId;
  upstream: ProviderUpstream;
  /** The app's own credential is forwarded (direct key honoured). */
  direct: boolean;
  virtualKey: string;
  websocket: boolean;
  /** The device its device token proved, if any: the only `x-bf-dim-device` an upstream Bifrost sees. */
  deviceId?: string | undefined;
  /** The app that authenticated device claims: the only `x-bf-dim-app` an upstream Bifrost sees. */
  app?: string | undefined;
}

/** The headers sent upstream, built from the client's request. */
export function upstreamHeaders(incoming: IncomingHttpHeaders, o: UpstreamHeaderOptions): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  const listed = connectionListed(incoming);
  const toBifrost = o.upstream.kind === 'bifrost';
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed.has(name)) continue;
    // The device token proves the device to this gateway only.
    if (name === 'x-heimdall-device-token' || name === 'x-heimdall-user-token') continue;
    if (name.startsWith('x-bf-')) {
      // A Bifrost upstream reads its own headers (dimensions, direct key); a provider never sees them.
      if (!toBifrost || name === 'x-bf-vk' || (name === 'x-bf-direct-key' && !o.direct)) continue;
      // Attribution dimensions are the gateway's, from authentication (set below), never the client's.
      if (name === 'x-bf-dim-device' || name === 'x-bf-dim-app') continue;
    }
    if ((CREDENTIAL_HEADERS as readonly string[]).includes(name)) {
      if (!o.direct) continue;
      const token = credentialToken(name, Array.isArray(value) ? (value[0] ?? '') : value);
      if (token === o.virtualKey || token.startsWith(VIRTUAL_KEY_PREFIX)) continue;
    }
    // Cookies belong to the user's own session with the provider; with the gateway's key they must not mix.
    if (name === 'cookie' && !o.direct) continue;
    out[name] = value;
  }
  if (o.websocket) {
    out['connection'] = 'Upgrade';
    out['upgrade'] = 'websocket';
  }
  if (o.upstream.kind === 'bifrost') {
    out['x-bf-vk'] = o.virtualKey;
    if (o.deviceId !== undefined) out['x-bf-dim-device'] = o.deviceId;
    if (o.app !== undefined) out['x-bf-dim-app'] = o.app;
  } else if (!o.direct && o.upstream.apiKey !== undefined) {
    PROVIDERS[o.provider].applyKey?.(out, o.upstream.apiKey.reveal());
  }
  return out;
}

/**
 * The query string sent upstream: the virtual key never leaves in `?key=`, and without a direct key
 * no client-supplied Google `key` does either (the gateway's key goes in a header instead).
 */
export function upstreamQuery(query: string, o: { provider: ProviderId; direct: boolean; virtualKey: string }): string {
  if (!query) return '';
  const kept = queryParams(query).filter((p) => {
    if (p.name !== 'key') return true;
    if (p.value === o.virtualKey || p.value.startsWith(VIRTUAL_KEY_PREFIX)) return false;
    return o.direct || o.provider !== 'genai';
  });
  return kept.map((p) => p.raw).join('&');
}

/**
 * Response headers that go back to the client, as a flat name, value, name, value... list (what
 * `writeHead` takes without copying it again).
 */
export function downstreamHeaders(rawHeaders: string[], o: { direct: boolean }): string[] {
  const out: string[] = [];
  let listed: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'connection') {
      listed ??= new Set();
      for (const s of rawHeaders[i + 1]!.split(',')) listed.add(s.trim().toLowerCase());
    }
  }
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) continue;
    // The provider's cookies are tied to the organisation's account, not to this user.
    if (lower === 'set-cookie' && !o.direct) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}
