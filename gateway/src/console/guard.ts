// Who may reach the console and how a change must arrive: loopback callers, or others only when
// `admin.allow_remote` is set and the listener speaks TLS (a session cookie never crosses the network
// in clear); a change comes from this origin (Origin and Sec-Fetch-Site, where the browser sends
// them) and carries the session's CSRF token.
import type { IncomingMessage } from 'node:http';
import { isLoopback } from '../admin/index.ts';

export interface AccessPolicy {
  allowRemote: boolean;
  tls: boolean;
}

/** Why this caller may not use the console at all, or undefined when it may. */
export function refusedCaller(req: IncomingMessage, policy: AccessPolicy): string | undefined {
  if (isLoopback(req.socket.remoteAddress)) return undefined;
  if (!policy.allowRemote) return 'The console answers loopback callers only. Set admin.allow_remote in the gateway config (with TLS) to reach it from elsewhere.';
  if (!policy.tls) return 'Off the loopback the console is served only over TLS: configure tls in the gateway config.';
  return undefined;
}

/** Why a state-changing request is not from this console's own pages, or undefined. */
export function refusedOrigin(req: IncomingMessage, tls: boolean): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request may not change anything`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  const own = `${tls ? 'https' : 'http'}://${req.headers.host ?? ''}`;
  return origin === own ? undefined : `a request from ${origin} may not change anything here`;
}

/** The value of cookie `name` in the request, if any. */
export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
