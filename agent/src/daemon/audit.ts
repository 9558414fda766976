// Every governed exchange becomes an audit event in the outbox (app, OS user, host, route, decision,
// status, bytes, latency; never a body or a credential) and a use in the seen-apps table. The decision
// written is the one the proxy enforced, carried in the record: nothing here asks policy again.
// Each exchange's event is checked against the protocol and encoded as the exchange ends; the
// events are written in batches: what ended within `batchDelayMs` (20 ms) of the batch's first
// exchange, or `maxBatch` exchanges, whichever comes first, in one transaction with the seen-apps
// counts. One commit per turn of the event loop cost ~10% of the daemon's CPU at 32 concurrent
// apps (issue 22); a batch spans many turns under load, and what the batch still does on the event
// loop (SQLite alone) is what a request waiting behind it feels. A daemon that exits, even
// on an uncaught exception, writes what is waiting first (flushAuditAtExit); only a SIGKILL or a
// power cut can lose the exchanges of the last batch delay.
import type { ExchangeRecord } from '../intercept/index.ts';
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { buildAppDecisionEvent, toEdgeEvent, type PolicyDecision, type SeenApps, type SeenAppUse } from '../policy/index.ts';
import type { Outbox, PreparedEvent } from '../sync/index.ts';
import { UNKNOWN_APP_ID } from '../identify/index.ts';

export interface ExchangeAuditOptions {
  outbox: Outbox;
  seen: SeenApps;
  logger: Logger;
  clock?: Clock;
  /** Longest an exchange waits to be written with the ones after it (default 20 ms). */
  batchDelayMs?: number;
  /** A batch this large is written at once (default 256). */
  maxBatch?: number;
}

export interface ExchangeAuditor {
  (record: ExchangeRecord): void;
  /** Writes what is waiting now (shutdown, tests). */
  flush(): void;
}

/** An ended exchange waiting for its batch: its event (none when the protocol refused it) and its app's use. */
type Audited = { event: PreparedEvent | undefined; use: SeenAppUse };

export function createExchangeAuditor(options: ExchangeAuditOptions): ExchangeAuditor {
  const { outbox, seen, logger } = options;
  const clock = options.clock ?? systemClock;
  const batchDelayMs = options.batchDelayMs ?? 20;
  const maxBatch = options.maxBatch ?? 256;
  let pending: Audited[] = [];
  let scheduled: ClockTimer | undefined;

  const flush = (): void => {
    clock.clearTimeout(scheduled);
    scheduled = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    try {
      outbox.enqueuePrepared(batch.flatMap((b) => (b.event ? [b.event] : [])), () => {
        // Inside the events' transaction, on a savepoint of its own: the counts failing must not
        // take the audit events with them.
        try {
          seen.recordMany(batch.map((b) => b.use));
        } catch (err) {
          logger.error({ err: (err as Error).message, requests: batch.length }, 'could not count the apps of a batch of requests');
        }
      });
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
    const use: SeenAppUse = { appId, displayName: a.appName ?? appId, kind: a.appKind ?? 'unknown', subject: a.appSubject, osUser: a.osUser, decision: effective };
    let prepared: PreparedEvent | undefined;
    try {
      prepared = outbox.prepareEvent(toEdgeEvent(event));
    } catch (err) {
      // The request still counts for its app below.
      logger.error({ err: (err as Error).message, app: appId, route: record.routeId }, 'could not record the audit event for a request');
    }
    pending.push({ event: prepared, use });
    if (pending.length >= maxBatch) {
      flush();
    } else if (!scheduled) {
      scheduled = clock.setTimeout(flush, batchDelayMs);
      // The batch is written at exit in any case (flushAuditAtExit): its timer keeps nothing alive.
      scheduled.unref();
    }
  };
  return Object.assign(audit, { flush });
}

/**
 * Writes the waiting batch when the process exits, however it exits short of SIGKILL: the daemon's
 * uncaught-exception handler calls process.exit, and 'exit' listeners run synchronously before the
 * process ends (SQLite writes are synchronous). Returns the way to stop doing so.
 */
export function flushAuditAtExit(auditor: ExchangeAuditor, proc: Pick<NodeJS.Process, 'on' | 'off'> = process): () => void {
  const onExit = (): void => auditor.flush();
  proc.on('exit', onExit);
  return () => { proc.off('exit', onExit); };
}
