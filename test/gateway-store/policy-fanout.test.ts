// Policy fan-out between two PostgreSQL stores on one real database: a version bumped on replica A
// reaches B's onPolicyChange through LISTEN/NOTIFY; when B's listening connection is killed, a change
// made meanwhile is found by re-reading the version on reconnect (the reconnect waits on B's Clock).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import { PostgresGatewayStore } from '../../gateway/src/store/index.ts';
import { LISTEN_RETRY_MS } from '../../gateway/src/store/postgres/policy-listener.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(() => server.stop());

/** Collects reported versions; `next()` resolves with the next one (arrival, not timing). */
function recorder() {
  const seen: number[] = [];
  let wake: (() => void) | undefined;
  return {
    seen,
    push(v: number) {
      seen.push(v);
      wake?.();
    },
    async next(count: number): Promise<number[]> {
      while (seen.length < count) await new Promise<void>((resolve) => (wake = resolve));
      return seen;
    },
  };
}

describe('policy fan-out over LISTEN/NOTIFY', () => {
  it('reports a change made on another replica, and one missed while the listening connection was down', async () => {
    const url = await server.createDatabase(`fanout_${process.pid}`);
    const clockB = new ManualClock();
    const a = await PostgresGatewayStore.open({ url, logger: silentLogger() });
    const b = await PostgresGatewayStore.open({ url, logger: silentLogger(), clock: clockB });
    try {
      const onB = recorder();
      const onA = recorder();
      b.onPolicyChange((v) => onB.push(v));
      a.onPolicyChange((v) => onA.push(v));
      await Promise.all([a.policyListener.waitFor('listening'), b.policyListener.waitFor('listening')]);

      expect(await a.bumpPolicyVersion()).toBe(2);
      expect(await onB.next(1)).toEqual([2]);

      // Kill B's listening session from the server side, as a network cut or a failover would.
      const pid = b.policyListener.backendPid;
      expect(pid).toBeTypeOf('number');
      const killed = await server.sql<{ ok: boolean }>(`fanout_${process.pid}`, 'SELECT pg_terminate_backend($1) AS ok', [pid]);
      expect(killed).toEqual([{ ok: true }]);
      await b.policyListener.waitFor('down');
      // The change B's connection cannot hear.
      expect(await a.bumpPolicyVersion()).toBe(3);
      // B reconnects when its clock says so, re-reads the version and reports the change it missed.
      const back = b.policyListener.waitFor('listening');
      clockB.advance(LISTEN_RETRY_MS);
      await back;
      expect(await onB.next(2)).toEqual([2, 3]);
      // A reconnect with nothing missed reports nothing (the re-read is done once it listens again).
      await server.sql(`fanout_${process.pid}`, 'SELECT pg_terminate_backend($1)', [b.policyListener.backendPid]);
      await b.policyListener.waitFor('down');
      const again = b.policyListener.waitFor('listening');
      clockB.advance(LISTEN_RETRY_MS);
      await again;
      expect(onB.seen).toEqual([2, 3]);
      // Each version at most once on A too (its own bumps may or may not come back first).
      expect(onA.seen.every((v, i, all) => all.indexOf(v) === i)).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
