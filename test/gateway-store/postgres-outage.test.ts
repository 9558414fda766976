// The database lost and back (issue 21, "kill the database"): a gateway replica on a real PostgreSQL
// 15 whose server is killed (`pg_ctl stop -m immediate`, as a crash would) and started again on the
// same socket. While it is down the replica keeps running, refuses admin changes with a 503 that
// names the database (not a 500 with the driver's internals), and /readyz says why it is not ready;
// once it is back, changes go through again. Every wait is for a state, never for time.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { startTestGateway, type TestGateway } from '../gateway/helpers.ts';
import { consoleRequest, signIn } from '../gateway/console-client.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
let gw: TestGateway;
let dataDir: string;

/** Polls until `check` holds (a state, not a duration; the deadline only bounds a failure). */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyz = async () => {
  const res = await fetch(`${gw.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { ready: boolean; reason?: string } };
};

beforeAll(async () => {
  server = await startTestPostgres();
  const url = await server.createDatabase(`outage_${process.pid}`);
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-outage-'));
  gw = await startTestGateway({ dataDir, config: { ...EMPTY_CONFIG, store: { url, password: undefined } } });
});

afterAll(async () => {
  await gw?.stop();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('a gateway replica while its database is down', () => {
  it('refuses changes with a 503 naming the database, is not ready, and takes changes again once the database is back', async () => {
    expect((await gw.admin('PATCH', 'settings', { fail_mode: 'closed' })).status).toBe(200);
    const before = (await gw.admin('GET', 'settings')).body;
    const { cookie } = await signIn(gw.url, gw.adminToken);
    // The test server runs with synchronous_commit off (speed): a checkpoint makes what was committed
    // survive the kill, as a production server's synchronous commit does.
    await server.sql(`outage_${process.pid}`, 'CHECKPOINT');
    server.halt();

    const refused = await gw.admin('PATCH', 'settings', { fail_mode: 'open' });
    expect(refused.status).toBe(503);
    expect(refused.body).toEqual({
      error: { code: 'store_unavailable', message: 'the gateway database is unreachable: nothing was changed; retry when it is back (GET /readyz says when)' },
    });
    const decide = await gw.admin('POST', 'apps/codex/decision', { status: 'denied' });
    expect([decide.status, decide.body.error.code]).toEqual([503, 'store_unavailable']);
    expect(await readyz()).toMatchObject({ status: 503, body: { ready: false, reason: 'store_unavailable' } });
    const page = await consoleRequest(gw.url, '/console/', { cookie });
    expect(page.status).toBe(503);
    expect(page.body).toContain('The gateway database is unreachable: nothing was changed.');
    // The process is alive and answering.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);

    await server.resume();
    await until(async () => (await readyz()).status === 200, '/readyz to say ready again');
    const changed = await gw.admin('PATCH', 'settings', { fail_mode: 'open' });
    expect(changed.status).toBe(200);
    expect(changed.body.fail_mode).toBe('open');
    // The console session, stored in the database, survived the outage.
    expect((await consoleRequest(gw.url, '/console/', { cookie })).status).toBe(200);
    expect(before.fail_mode).toBe('closed');
  });
});
