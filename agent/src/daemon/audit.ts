// Every governed exchange becomes an audit event in the outbox (app, OS user, host, route, decision,
// status, bytes, latency; never a body or a credential) and a use in the seen-apps table.
import type { ExchangeRecord } from '../intercept/index.ts';
import type { Logger } from '../lib/logger.ts';
import { buildAppDecisionEvent, toEdgeEvent, type PolicyEngine, type SeenApps } from '../policy/index.ts';
import type { Outbox } from '../sync/index.ts';
import { UNKNOWN_APP_ID } from '../identify/index.ts';

export interface ExchangeAuditOptions {
  policy: PolicyEngine;
  outbox: Outbox;
  seen: SeenApps;
  userIdFor: (osUser: string) => string | undefined;
  logger: Logger;
}

export function createExchangeAuditor(options: ExchangeAuditOptions): (record: ExchangeRecord) => void {
  const { policy, outbox, seen, userIdFor, logger } = options;
  return (record) => {
    const a = record.attribution;
    const appId = a.appId ?? UNKNOWN_APP_ID;
    const decision = policy.decideApp({ appId, osUser: a.osUser, userId: a.osUser !== undefined ? userIdFor(a.osUser) : undefined });
    // What happened wins over what policy says now: a request blocked a moment before an approval
    // is still a block.
    const effective = record.outcome === 'blocked' ? { ...decision, verdict: 'block' as const } : decision.verdict === 'block' ? { ...decision, verdict: 'allow' as const } : decision;
    try {
      const event = buildAppDecisionEvent({
        appId,
        osUser: a.osUser,
        host: record.host,
        route: record.routeId,
        decision: effective,
        statusCode: record.status,
        bytesIn: record.bytesIn,
        bytesOut: record.bytesOut,
        latencyMs: record.latencyMs,
        at: new Date(record.startedAt),
      });
      outbox.enqueue(toEdgeEvent(event));
      seen.record({ appId, displayName: a.appName ?? appId, kind: a.appKind ?? 'unknown', subject: a.appSubject, osUser: a.osUser, decision: effective });
    } catch (err) {
      // A full disk must not take the proxy down with it; the request itself already completed.
      logger.error({ err: (err as Error).message, app: appId, route: record.routeId }, 'could not record the audit event for a request');
    }
  };
}
