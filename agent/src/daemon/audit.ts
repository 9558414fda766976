// Every governed exchange becomes an audit event in the outbox (app, OS user, host, route, decision,
// status, bytes, latency; never a body or a credential) and a use in the seen-apps table. The decision
// written is the one the proxy enforced, carried in the record: nothing here asks policy again.
// Exchanges that end in the same event-loop turn are written together, in one transaction each for
// the outbox and the seen apps, at the end of that turn: one commit per turn instead of two per
// request. A crash can lose at most the exchanges of the turn it interrupts.
import type { ExchangeRecord } from '../intercept/index.ts';
import type { Logger } from '../lib/logger.ts';
import { buildAppDecisionEvent, toEdgeEvent, type PolicyDecision, type SeenApps, type SeenAppUse } from '../policy/index.ts';
import type { Outbox } from '../sync/index.ts';
import { UNKNOWN_APP_ID } from '../identify/index.ts';

export interface ExchangeAuditOptions {
  outbox: Outbox;
  seen: SeenApps;
  logger: Logger;
}

export interface ExchangeAuditor {
  (record: ExchangeRecord): void;
  /** Writes what is waiting now (shutdown, tests). */
  flush(): void;
}

type Audited = { event: ReturnType<typeof toEdgeEvent>; use: SeenAppUse; record: ExchangeRecord };

export function createExchangeAuditor(options: ExchangeAuditOptions): ExchangeAuditor {
  const { outbox, seen, logger } = options;
  let pending: Audited[] = [];
  let scheduled: NodeJS.Immediate | undefined;

  const flush = (): void => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      const { rejected } = outbox.enqueueMany(batch.map((b) => b.event));
      for (const { index, error } of rejected) {
        const r = batch[index]!.record;
        logger.error({ err: error.message, app: r.attribution.appId, route: r.routeId }, 'could not record the audit event for a request');
      }
      seen.recordMany(batch.map((b) => b.use));
    } catch (err) {
      // A full disk must not take the proxy down with it; the requests themselves already completed.
      logger.error({ err: (err as Error).message, requests: batch.length }, 'could not record the audit events of a batch of requests');
    }
  };

  const audit = (record: ExchangeRecord): void => {
    const a = record.attribution;
    const appId = a.appId ?? UNKNOWN_APP_ID;
    // An exchange Heimdall itself refused after policy allowed it (nobody signed in) is a block too.
    const effective: PolicyDecision = record.outcome === 'blocked' && record.decision.verdict === 'allow' ? { ...record.decision, verdict: 'block' } : record.decision;
    const event = buildAppDecisionEvent({
      appId,
      osUser: a.osUser,
      identityVerified: a.identityVerified,
      identityProof: a.identityProof,
      host: record.host,
      route: record.routeId,
      decision: effective,
      statusCode: record.status,
      bytesIn: record.bytesIn,
      bytesOut: record.bytesOut,
      latencyMs: record.latencyMs,
      at: new Date(record.startedAt),
    });
    pending.push({
      event: toEdgeEvent(event),
      use: { appId, displayName: a.appName ?? appId, kind: a.appKind ?? 'unknown', subject: a.appSubject, osUser: a.osUser, decision: effective },
      record,
    });
    scheduled ??= setImmediate(flush);
  };
  return Object.assign(audit, { flush });
}
