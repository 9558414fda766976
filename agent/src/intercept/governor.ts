// The governance seam: who is calling (identify) and may they (policy). The proxy asks once per
// client connection and once per request; the lead wires identify + policy behind this interface.
import type { Route, RouteId } from '../forward/index.ts';
import type { PolicyDecision } from '../policy/index.ts';

/** How this app's inference reaches the gateway, as the organization set it per app. */
export type RoutingMode = 'gateway' | 'passthrough';

/**
 * Who is behind a client connection. Opaque to the proxy except `routingMode` and `appId`
 * (the bounded `x-bf-dim-app` label); carried unchanged into policy checks and audit records.
 */
export interface Attribution {
  appId?: string;
  appName?: string;
  /** Catalog kind (cli, desktop, browser, sdk, unknown...) for the apps list. */
  appKind?: string;
  /** The script or executable behind a derived app id, for people; never sent as a label. */
  appSubject?: string;
  /**
   * Whether identify proved the process is the app it names (catalog proof), and which proof held;
   * undefined when there was no process to verify. Policy may require it; audit records it.
   */
  identityVerified?: boolean;
  identityProof?: string;
  osUser?: string;
  uid?: number;
  routingMode: RoutingMode;
}

export interface ConnectionInfo {
  clientAddress: string;
  clientPort: number;
  /** The proxy's own address on this connection (127.0.0.1 or ::1). */
  proxyAddress: string;
  proxyPort: number;
  family: 'IPv4' | 'IPv6';
  targetHost: string;
  targetPort: number;
  /** True when Heimdall terminates TLS for this host (it is in the routing table). */
  intercepted: boolean;
}

export type ConnectionAdmission =
  /**
   * `tunnel`: pass an intercepted host through untouched (an allowed app that pins its certificates
   * and would fail a terminated handshake); its requests are then neither seen nor audited.
   */
  | { decision: 'admit'; attribution: Attribution; tunnel?: boolean }
  /**
   * Refused: an intercepted host gets each request blocked in its provider's error shape (403);
   * any other host gets its CONNECT refused with 403 and this one-line reason.
   */
  /**
   * `atConnect`: refuse the CONNECT itself even on an intercepted host, for apps that pin their
   * certificates and would never read an error inside a terminated TLS connection.
   */
  | { decision: 'refuse'; reason: string; attribution: Attribution; atConnect?: boolean; policy: PolicyDecision };

export interface RequestInfo {
  host: string;
  method: string;
  /** Path without query string. */
  path: string;
  route: Route;
  /** Request headers with credentials and cookies removed. */
  headers: Readonly<Record<string, string>>;
}

/** The governor's answer for one request, with the policy decision it enforced (audit writes that one). */
export type RequestDecision = { decision: 'allow'; policy: PolicyDecision } | { decision: 'block'; message: string; policy: PolicyDecision };

export interface Governor {
  admitConnection(info: ConnectionInfo): Promise<ConnectionAdmission>;
  admitRequest(attribution: Attribution, request: RequestInfo): RequestDecision | Promise<RequestDecision>;
}

/** What a proxy without a governor (development, tests) enforces: everything allowed, by no policy. */
export const UNGOVERNED: PolicyDecision = { verdict: 'allow', status: 'approved', scope: 'default', reason: 'no governor: every request is allowed', policyVersion: null };

/** What an exchange that failed before the governor answered carries: it was not let through. */
export const UNDECIDED: PolicyDecision = { verdict: 'block', status: 'no_policy', scope: 'fail_mode', reason: 'Heimdall failed before policy decided', policyVersion: null };

/** The default until identify and policy are wired: everyone admitted, in gateway mode. */
export const allowAllGovernor: Governor = {
  admitConnection: () => Promise.resolve({ decision: 'admit', attribution: { routingMode: 'gateway' } }),
  admitRequest: () => ({ decision: 'allow', policy: UNGOVERNED }),
};

/** One governed exchange, for audit and metrics: no bodies, no credentials, no query string. */
export interface ExchangeRecord {
  attribution: Attribution;
  host: string;
  routeId: RouteId;
  provider: Route['provider'];
  /** Where it went: the gateway (gateway or pass-through mode) or the real origin. */
  destination: 'gateway' | 'passthrough' | 'origin';
  transport: 'https' | 'http' | 'websocket';
  method: string;
  path: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
  requestId: string;
  outcome: 'forwarded' | 'blocked' | 'error';
  /** The policy decision this exchange was governed by: the one enforced, never recomputed. */
  decision: PolicyDecision;
  /** Why it was blocked or failed (a policy message or an error kind), if it was. */
  reason?: string;
  startedAt: string;
}
