// Benchmark: does a token refresh stall requests? Each request does what the proxy does per request
// (UserSessions.current, the per-user credential step) and then a real loopback HTTP exchange
// carrying the token. Phase "steady": no refresh; phase "refreshing": a refresh is in flight the
// whole time (each answers after `refreshMs`, the next starts at once), same run, same server.
// A request that waited for a refresh would take at least `refreshMs`.
// Run alone with `node test/bench/sso-refresh.ts`; the bench runner calls benchSsoRefresh().
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { AUTH_MIGRATIONS, TokenVault, UserSessions, UserTokens, type TokenSet } from '../../agent/src/auth/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';

export interface SsoRefreshBenchResult {
  steadyMs: number[];
  refreshingMs: number[];
  refreshes: number;
  refreshMs: number;
}

export async function benchSsoRefresh(options: { requests: number; refreshMs: number }): Promise<SsoRefreshBenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-bench-sso-'));
  const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
  const tokens = new UserTokens(store.db, new TokenVault(Buffer.alloc(32, 5)));
  let n = 0;
  const fresh = (): TokenSet => ({ accessToken: `access-${++n}-${'a'.repeat(40)}`, accessExpiresAt: Date.now() + 600_000, refreshToken: `hrt_${n}-${'r'.repeat(40)}` });
  tokens.saveSignIn('alice', { id: 'u-alice', email: 'alice@example.com', name: undefined }, fresh());
  let refreshes = 0;
  const sessions = new UserSessions({
    tokens,
    logger: silentLogger(),
    refresh: () =>
      new Promise((resolve) => {
        refreshes++;
        setTimeout(() => resolve(fresh()), options.refreshMs);
      }),
  });
  const server = createServer((req, res) => res.end(String(req.headers['x-heimdall-user-token']?.length ?? 0)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const agent = new (await import('node:http')).Agent({ keepAlive: true, maxSockets: 1 });
  const one = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      const token = sessions.current('alice');
      if (token === undefined) return reject(new Error('no token: a request would have been blocked'));
      const req = request({ host: '127.0.0.1', port, path: '/', agent, headers: { 'x-heimdall-user-token': token } }, (res) => {
        res.resume();
        res.on('end', () => resolve(performance.now() - t0));
      });
      req.on('error', reject);
      req.end();
    });
  const run = async (count: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(await one());
    return out;
  };
  try {
    await run(200); // warm-up
    const steadyMs = await run(options.requests);
    let refreshing = true;
    const loop = (async () => {
      while (refreshing) await sessions.refreshNow('alice');
    })();
    const refreshingMs = await run(options.requests);
    refreshing = false;
    await loop;
    return { steadyMs, refreshingMs, refreshes, refreshMs: options.refreshMs };
  } finally {
    sessions.stop();
    agent.destroy();
    server.close();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await benchSsoRefresh({ requests: 3000, refreshMs: 200 });
  const p = (v: number[], q: number) => [...v].sort((a, b) => a - b)[Math.floor((q / 100) * v.length)]!.toFixed(3);
  console.log(`steady p50 ${p(r.steadyMs, 50)} p99 ${p(r.steadyMs, 99)} ms; refreshing p50 ${p(r.refreshingMs, 50)} p99 ${p(r.refreshingMs, 99)} ms; ${r.refreshes} refreshes`);
}
