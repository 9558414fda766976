// Liveness and readiness for load balancers and orchestrators (issue 21): `/healthz` says the process
// answers; `/readyz` says this replica should get traffic (its store answers a ping at the current
// schema, and it is not draining). Both are unauthenticated, so they answer a fixed reason word and
// never the store's own error (which may name a host, a user or a file): that goes to the log.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { systemClock, type Clock, type ClockTimer, type Logger } from '../../../lib/index.ts';
import { sendJson } from './json.ts';

export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';

/** Why a replica is not ready; the words docs/operations.md lists. */
export type NotReadyReason = 'draining' | 'store_unavailable' | 'store_timeout';

const MESSAGES: Record<NotReadyReason, string> = {
  draining: 'this replica is draining (stopping); use another replica',
  store_unavailable: 'the database did not answer, or its schema is not the one this build expects; see the gateway log',
  store_timeout: 'the database did not answer in time; see the gateway log',
};

export interface HealthOptions {
  /** Resolves when the store answers at the current schema (GatewayStore.ping). */
  ping: () => Promise<void>;
  /** True once the replica started draining. */
  draining: () => boolean;
  logger: Logger;
  /** A ping slower than this is a failure (a hung database must not hang the probe). */
  timeoutMs?: number;
  clock?: Clock;
}

export interface Health {
  live: (req: IncomingMessage, res: ServerResponse) => void;
  ready: (req: IncomingMessage, res: ServerResponse) => void;
  /** The readiness answer without HTTP: undefined when ready. */
  check: () => Promise<NotReadyReason | undefined>;
}

export function createHealth(options: HealthOptions): Health {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? 2_000;
  // Probes from several balancers at once share one ping.
  let inFlight: Promise<NotReadyReason | undefined> | undefined;
  // Logged when the answer changes, not on every probe (a balancer probes every few seconds).
  let lastLogged: NotReadyReason | 'ready' | undefined;

  const pingOnce = async (): Promise<NotReadyReason | undefined> => {
    let timer: ClockTimer | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = clock.setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    try {
      const answer = await Promise.race([options.ping().then(() => 'ok' as const), timedOut]);
      if (answer === 'timeout') {
        note('store_timeout', { timeout_ms: timeoutMs });
        return 'store_timeout';
      }
      note('ready');
      return undefined;
    } catch (err) {
      note('store_unavailable', { err });
      return 'store_unavailable';
    } finally {
      clock.clearTimeout(timer);
    }
  };

  const note = (state: NotReadyReason | 'ready', details: Record<string, unknown> = {}): void => {
    if (state === lastLogged) return;
    lastLogged = state;
    if (state === 'ready') options.logger.info('readiness: ready');
    else options.logger.warn({ reason: state, ...details }, 'readiness: not ready');
  };

  const check = (): Promise<NotReadyReason | undefined> => {
    if (options.draining()) return Promise.resolve('draining');
    inFlight ??= pingOnce().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };

  return {
    live: (_req, res) => sendJson(res, 200, { ok: true }),
    ready: (_req, res) => {
      void check().then((reason) => {
        if (reason === undefined) sendJson(res, 200, { ready: true });
        else sendJson(res, 503, { ready: false, reason, message: MESSAGES[reason] });
      });
    },
    check,
  };
}
