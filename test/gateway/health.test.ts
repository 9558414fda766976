// Liveness and readiness (issue 21, point 5) on the listener a load balancer probes: a real
// `heimdall-gateway run` process answers /healthz and /readyz unauthenticated; /readyz turns 503 with
// a reason word when its store's schema is not the one it expects (a newer replica migrated the
// database) and when its store is closed, never repeating the store's own error; and on SIGTERM it
// answers 503 `draining` at once on a connection already open while refusing new connections.
import Database from 'better-sqlite3';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_DB_FILE, GATEWAY_MIGRATIONS } from '../../gateway/src/store/index.ts';
import { enrollChild, startGatewayChild, type GatewayChild } from './process.ts';
import { Peer, startTestGateway } from './helpers.ts';

/** GET on `agent` (keep-alive, one socket): status, body, whether the socket was reused, and its Connection header. */
function get(url: string, agent?: http.Agent): Promise<{ status: number; body: Record<string, unknown>; reused: boolean; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, agent ? { agent } : {}, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown>, reused: req.reusedSocket, connection: res.headers.connection }));
    });
    req.on('error', reject);
  });
}

describe('/healthz and /readyz on a real gateway process', () => {
  let gw: GatewayChild;

  beforeAll(async () => {
    gw = await startGatewayChild();
  });

  afterAll(async () => {
    await gw.stop();
  });

  it('answers both unauthenticated, with nothing but the state', async () => {
    expect(await get(`${gw.url}/healthz`)).toMatchObject({ status: 200, body: { ok: true } });
    expect(await get(`${gw.url}/readyz`)).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('is not ready while the database schema is not the one it expects, and says so without the store error', async () => {
    // A newer replica migrated the shared database past what this build knows.
    const db = new Database(path.join(gw.dataDir, GATEWAY_DB_FILE));
    const ahead = GATEWAY_MIGRATIONS.migrations.length + 1;
    db.prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)').run('gateway', ahead, 'from the future', new Date().toISOString());
    try {
      const r = await get(`${gw.url}/readyz`);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ ready: false, reason: 'store_unavailable', message: expect.stringContaining('see the gateway log') });
      // Probes are unauthenticated: the store's own words (file, versions) go to the log only.
      expect(JSON.stringify(r.body)).not.toContain(gw.dataDir);
      expect(JSON.stringify(r.body)).not.toContain(`#${ahead}`);
      await gw.waitForOutput(`database schema is at gateway#${ahead}`);
      // Liveness is about the process, not its database: a restart would not help.
      expect((await get(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      db.prepare('DELETE FROM schema_migrations WHERE component = ? AND version = ?').run('gateway', ahead);
      db.close();
    }
    expect(await get(`${gw.url}/readyz`)).toMatchObject({ status: 200, body: { ready: true } });
  });

  it('on SIGTERM answers /readyz 503 draining at once on an open connection, with Connection: close, and accepts no new connection', async () => {
    // Two agents keep the drain going (their closes are spread over a 30 s window) while the test probes.
    const drainer = await startGatewayChild({ config: { drain: { window_s: 30 } } });
    const peers: Peer[] = [];
    try {
      for (const id of ['dev-drain-a', 'dev-drain-b']) {
        const peer = new Peer(drainer.wsUrl, await enrollChild(drainer, id));
        await peer.handshake(id);
        peers.push(peer);
      }
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      expect(await get(`${drainer.url}/readyz`, agent)).toMatchObject({ status: 200, reused: false });
      drainer.child.kill('SIGTERM');
      await drainer.waitForOutput('"msg":"gateway draining"');
      const r = await get(`${drainer.url}/readyz`, agent);
      expect(r).toMatchObject({ status: 503, reused: true, connection: 'close', body: { ready: false, reason: 'draining' } });
      await expect(get(`${drainer.url}/healthz`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      // The first agent was sent on at once; the second waits its turn in the window.
      expect(await peers[0]!.closed).toMatchObject({ code: 4503 });
      agent.destroy();
    } finally {
      // A second signal ends the drain at once (1001 for whoever is left).
      drainer.child.kill('SIGINT');
      await drainer.stop();
    }
    expect(await peers[1]!.closed).toMatchObject({ code: 1001 });
  });
});

describe('/readyz with the store gone (in-process gateway)', () => {
  it('answers 503 store_unavailable once the store is closed, while /healthz stays 200', async () => {
    const gw = await startTestGateway();
    try {
      expect((await get(`${gw.url}/readyz`)).status).toBe(200);
      await gw.store.close();
      const r = await get(`${gw.url}/readyz`);
      expect(r).toMatchObject({ status: 503, body: { ready: false, reason: 'store_unavailable' } });
      expect(JSON.stringify(r.body)).not.toMatch(/not open|database connection/i);
      expect((await get(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });
});
