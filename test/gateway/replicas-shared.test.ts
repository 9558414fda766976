// Two gateway replicas on one real PostgreSQL 15 database, as behind a load balancer that is not
// sticky (issue 21): what one replica hands out, the other honours. A challenge fetched from A is
// answered on B, and only once across both; an admin token rotated on A stops working on B at once;
// a console session started on A is known to B, and a sign-out on B ends it on A.
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHALLENGE_PATH, TOKEN_PATH, deviceProofText } from '../../protocol/index.ts';
import { EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { ADMIN_TOKEN_FILE } from '../../gateway/src/data-dir-files.ts';
import { createKey, deviceKeyFor, enroll, startTestGateway, type TestGateway } from './helpers.ts';
import { consoleRequest, csrfToken, signIn } from './console-client.ts';
import { startTestPostgres, type TestPostgres } from '../helpers/postgres.ts';

let server: TestPostgres;
let a: TestGateway;
let b: TestGateway;
const dirs: string[] = [];

const post = async (gw: { url: string }, pathname: string, body: unknown) => {
  const res = await fetch(`${gw.url}${pathname}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as { challenge: string; device_token?: string; error: { message: string } } };
};

beforeAll(async () => {
  server = await startTestPostgres();
  const url = await server.createDatabase(`shared_${process.pid}`);
  const config = { ...EMPTY_CONFIG, store: { url, password: undefined } };
  const dirA = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-a-'));
  const dirB = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-b-'));
  dirs.push(dirA, dirB);
  a = await startTestGateway({ dataDir: dirA, config });
  // The same token file in each replica's data dir, as a mounted Secret would put it.
  copyFileSync(path.join(dirA, ADMIN_TOKEN_FILE), path.join(dirB, ADMIN_TOKEN_FILE));
  b = await startTestGateway({ dataDir: dirB, config });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await server?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('replicas sharing one PostgreSQL database', () => {
  it('accepts on B a challenge fetched from A, and only once across both replicas', async () => {
    const { key } = await createKey(a, 'alice@example.com');
    expect((await enroll(a, key, 'dev-x')).status).toBe(200);
    const { body } = await post(a, CHALLENGE_PATH, {});
    const request = { device_id: 'dev-x', challenge: body.challenge, signature: sign(null, deviceProofText('token', body.challenge, 'dev-x'), deviceKeyFor('dev-x').privateKey).toString('base64') };
    const onB = await post(b, TOKEN_PATH, request);
    expect(onB.status).toBe(200);
    expect(onB.body.device_token).toBeTypeOf('string');
    // The same signed answer replayed on A, or on B again: already used.
    for (const gw of [a, b]) {
      const replay = await post(gw, TOKEN_PATH, request);
      expect(replay.status).toBe(401);
      expect(replay.body.error.message).toBe('the challenge was already used; ask for a new one');
    }
  });

  it('uses a challenge once when both replicas receive its answer at the same time', async () => {
    const { body } = await post(b, CHALLENGE_PATH, {});
    const request = { device_id: 'dev-x', challenge: body.challenge, signature: sign(null, deviceProofText('token', body.challenge, 'dev-x'), deviceKeyFor('dev-x').privateKey).toString('base64') };
    const results = await Promise.all([post(a, TOKEN_PATH, request), post(b, TOKEN_PATH, request), post(a, TOKEN_PATH, request), post(b, TOKEN_PATH, request)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401, 401]);
  });

  it('keeps a console session across replicas, and a sign-out on one ends it on the other', async () => {
    const { cookie } = await signIn(a.url, a.adminToken);
    expect((await consoleRequest(b.url, '/console/', { cookie })).status).toBe(200);
    // A change made through B with the session started on A; its message shows on A's next page.
    const csrf = await csrfToken(b.url, cookie);
    const done = await consoleRequest(b.url, '/console/settings', { cookie, form: { fail_mode: 'closed', csrf } });
    expect(done.status).toBe(303);
    expect((await consoleRequest(a.url, done.headers.location!, { cookie })).body).toContain('class="flash ok"');
    expect((await a.admin('GET', 'settings')).body.fail_mode).toBe('closed');
    expect((await consoleRequest(b.url, '/console/sign-out', { cookie, form: { csrf } })).status).toBe(303);
    expect((await consoleRequest(a.url, '/console/', { cookie })).status).toBe(303);
  });

  it('ends the old admin token on every replica when it rotates on one, with the console sessions it opened', async () => {
    const old = a.adminToken;
    const { cookie } = await signIn(b.url, old);
    expect((await b.admin('GET', 'settings', undefined, old)).status).toBe(200);
    const rotated = await a.admin('POST', 'admin-token/rotate');
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.token as string;
    expect((await b.admin('GET', 'settings', undefined, old)).status).toBe(401);
    expect((await b.admin('GET', 'settings', undefined, fresh)).status).toBe(200);
    expect((await consoleRequest(b.url, '/console/', { cookie })).status).toBe(303);
    a.adminToken = fresh;
    b.adminToken = fresh;
  });

  it('refuses to start a replica whose token file holds a rotated-away token, instead of bringing it back', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-c-'));
    dirs.push(dir);
    // B's file still holds the token A rotated away (its Secret was not updated).
    copyFileSync(path.join(b.dataDir, ADMIN_TOKEN_FILE), path.join(dir, ADMIN_TOKEN_FILE));
    await expect(startTestGateway({ dataDir: dir, config: { ...EMPTY_CONFIG, store: { url: server.url(`shared_${process.pid}`), password: undefined } } })).rejects.toThrow(
      /holds an admin token that was rotated away \(on this or another replica sharing the database\)/,
    );
    expect((await b.admin('GET', 'settings', undefined, a.adminToken)).status).toBe(200);
  });
});
