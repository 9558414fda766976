// The audit record of one governed request: who (app, OS user), where (host, route), what the policy
// said and what happened (status, bytes, latency). No bodies, no headers, no query strings: a query
// can carry a key (`?key=AIza...` on Google's API), so routes are cut at `?`.
import type { EdgeEvent } from '../../../protocol/index.ts';
import type { DecisionScope, PolicyDecision, Verdict } from './schema.ts';

export interface AppDecisionEvent {
  at: string;
  appId: string;
  osUser: string | undefined;
  /** Whether the process was proved to be the app (and how); undefined when no process was found. */
  identity: 'verified' | 'unverified' | undefined;
  identityProof: string | undefined;
  host: string;
  /** Gateway route id or request path, without query string. */
  route: string;
  verdict: Verdict;
  status: PolicyDecision['status'];
  scope: DecisionScope;
  policyVersion: number | null;
  /** HTTP status returned to the app (403 for a block). */
  statusCode: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
}

export interface AppDecisionInput {
  appId: string;
  osUser?: string | undefined;
  identityVerified?: boolean | undefined;
  identityProof?: string | undefined;
  host: string;
  route: string;
  decision: PolicyDecision;
  statusCode: number;
  bytesIn?: number;
  bytesOut?: number;
  latencyMs?: number;
  at?: Date;
}

const count = (n: number | undefined): number => (n === undefined || !Number.isFinite(n) || n < 0 ? 0 : Math.floor(n));

export function buildAppDecisionEvent(input: AppDecisionInput): AppDecisionEvent {
  const host = input.host.toLowerCase().replace(/\.$/, '').slice(0, 253);
  const route = (input.route.split('?')[0] ?? '').split('#')[0] ?? '';
  return {
    at: (input.at ?? new Date()).toISOString(),
    appId: input.appId,
    osUser: input.osUser,
    identity: input.identityVerified === undefined ? undefined : input.identityVerified ? 'verified' : 'unverified',
    identityProof: input.identityVerified === true ? input.identityProof : undefined,
    host,
    route: route.slice(0, 512),
    verdict: input.decision.verdict,
    status: input.decision.status,
    scope: input.decision.scope,
    policyVersion: input.decision.policyVersion,
    statusCode: Number.isInteger(input.statusCode) ? input.statusCode : 0,
    bytesIn: count(input.bytesIn),
    bytesOut: count(input.bytesOut),
    latencyMs: Math.max(0, Math.round((input.latencyMs ?? 0) * 10) / 10),
  };
}

/** The record as an outbox event (the outbox assigns `seq`): type `request` when allowed, `block` when not. */
export function toEdgeEvent(event: AppDecisionEvent): Omit<EdgeEvent, 'seq'> {
  return {
    type: event.verdict === 'allow' ? 'request' : 'block',
    at: event.at,
    app: event.appId,
    ...(event.osUser !== undefined ? { os_user: event.osUser } : {}),
    attrs: {
      host: event.host,
      route: event.route,
      decision: event.verdict,
      status: event.status,
      scope: event.scope,
      policy_version: event.policyVersion,
      status_code: event.statusCode,
      bytes_in: event.bytesIn,
      bytes_out: event.bytesOut,
      latency_ms: event.latencyMs,
      ...(event.identity !== undefined ? { identity: event.identity } : {}),
      ...(event.identityProof !== undefined ? { identity_proof: event.identityProof } : {}),
    },
  };
}
