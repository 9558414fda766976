// Control events across replicas (issue 21 point 2): two ControlPlanes on two PostgreSQL stores on one
// real database. A key revoked on A is a `credentials` event on B; settings and budgets changed on A
// are what B answers after; a lost listening connection comes back as `credentials` on B (the
// reconnect waits on B's store Clock, never on time). On SQLite the same verbs emit locally and
// nothing else happens.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import { ControlPlane, type ControlEvent } from '../../gateway/src/control/index.ts';
import { PostgresGatewayStore, SqliteGatewayStore, type GatewayStore } from '../../gateway/src/store/index.ts';
import { LISTEN_RETRY_MS } from '../../gateway/src/store/postgres/policy-listener.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
beforeAll(async () => {
  server = await startTestPostgres();
});
afterAll(() => server.stop());

/** Events a control plane emitted; `until` resolves once one matches (arrival, not timing). */
function events(control: ControlPlane) {
  const seen: ControlEvent[] = [];
  const waiters: { match: (e: ControlEvent) => boolean; resolve: () => void }[] = [];
  control.onEvent((e) => {
    seen.push(e);
    for (const w of waiters.splice(0)) {
      if (w.match(e)) w.resolve();
      else waiters.push(w);
    }
  });
  return {
    seen,
    until: (match: (e: ControlEvent) => boolean): Promise<void> =>
      seen.some(match) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ match, resolve })),
  };
}

describe('control events across replicas', () => {
  it('brings credentials, settings, budgets and a lost listener back to the other replica as local events', async () => {
    const db = `control_${process.pid}`;
    const url = await server.createDatabase(db);
    const clockB = new ManualClock();
    const storeA = await PostgresGatewayStore.open({ url, logger: silentLogger() });
    const storeB = await PostgresGatewayStore.open({ url, logger: silentLogger(), clock: clockB });
    const a = new ControlPlane({ store: storeA, logger: silentLogger() });
    const b = new ControlPlane({ store: storeB, logger: silentLogger() });
    try {
      await Promise.all([a.start(), b.start()]);
      await Promise.all([storeA.policyListener.waitFor('listening'), storeB.policyListener.waitFor('listening')]);
      expect(a.replicaId).not.toBe(b.replicaId);
      // One listening connection per replica, though each subscribes twice (policy, messages) before it listens.
      const listening = await server.sql<{ n: number }>(db, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'heimdall-gateway-listen'", [db]);
      expect(listening[0]!.n).toBe(2);
      const onA = events(a);
      const onB = events(b);

      // A key revoked on A: `credentials` here and on B.
      const { record } = await a.createVirtualKey({ email: 'alice@example.com' });
      await a.revokeVirtualKey(record.id);
      expect(onA.seen).toContainEqual({ type: 'credentials' });
      await onB.until((e) => e.type === 'credentials');

      // A setting changed on A: B pushes (a policy event) and answers the new value.
      expect(b.allowDirectKeys()).toBe(false);
      await a.updateSettings({ allow_direct_keys: true });
      await onB.until((e) => e.type === 'policy');
      expect(b.allowDirectKeys()).toBe(true);

      // Budgets are not part of the policy: B re-reads them when A says so.
      await a.updateBudgets({ events_per_minute: 7 });
      const deadline = Date.now() + 10_000;
      while (b.budgets().events_per_minute !== 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(b.budgets().events_per_minute).toBe(7);

      // B's listening connection dies: its return is a `credentials` event (notifications were lost).
      const before = onB.seen.filter((e) => e.type === 'credentials').length;
      await server.sql(db, 'SELECT pg_terminate_backend($1)', [storeB.policyListener.backendPid]);
      await storeB.policyListener.waitFor('down');
      expect(onB.seen.filter((e) => e.type === 'credentials')).toHaveLength(before);
      const back = storeB.policyListener.waitFor('listening');
      clockB.advance(LISTEN_RETRY_MS);
      await back;
      expect(onB.seen.filter((e) => e.type === 'credentials')).toHaveLength(before + 1);
      // A never hears its own messages back as events from elsewhere: one credentials event, its own.
      expect(onA.seen.filter((e) => e.type === 'credentials')).toHaveLength(1);
    } finally {
      a.close();
      b.close();
      await Promise.all([storeA.close(), storeB.close()]);
    }
  });

  it('emits credentials locally on SQLite, which has no other replica to tell', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-control-'));
    const store = new SqliteGatewayStore({ dataDir: dir, logger: silentLogger() });
    const control = new ControlPlane({ store, logger: silentLogger() });
    try {
      await control.start();
      const seen = events(control);
      const { record } = await control.createVirtualKey({ email: 'alice@example.com' });
      await control.revokeVirtualKey(record.id);
      expect(seen.seen).toEqual([{ type: 'credentials' }]);
      expect('publishToReplicas' in (store as GatewayStore)).toBe(false);
    } finally {
      control.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
