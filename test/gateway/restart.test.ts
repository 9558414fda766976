// 200 agents connected, the gateway restarts on the same data dir and port, and every agent
// reconnects at once (the worst case, with no backoff spread): all get their policy back and the
// acks resume from what was stored before the restart.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { at, createKey, enroll, Peer, startTestGateway, type TestGateway } from './helpers.ts';

const AGENTS = 200;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-restart-'));
let gw: TestGateway | undefined;

afterAll(async () => {
  await gw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

// 200 devices enrolling from one address is a fleet behind one NAT: above the default enroll burst.
const FLEET_CONFIG = {
  ...EMPTY_CONFIG,
  limits: { ...DEFAULT_LIMITS, clients: { ...DEFAULT_LIMITS.clients, rates: { ...DEFAULT_LIMITS.clients.rates, enroll: { perMinute: 100_000, burst: 1_000 } } } },
};

describe('gateway restart with 200 agents', () => {
  it('takes 200 concurrent reconnects and resumes every outbox', async () => {
    gw = await startTestGateway({ dataDir, config: FLEET_CONFIG });
    const port = gw.port;
    const key = await createKey(gw, 'fleet@example.com');
    const tokens: string[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const r = await enroll(gw, key.key, `fleet-${i}`);
      tokens.push(r.body.device_token);
    }
    const peers = tokens.map((t) => new Peer(gw!.wsUrl, t));
    await Promise.all(peers.map((p, i) => p.handshake(`fleet-${i}`, { outbox_stream: `s-${i}` })));
    expect(gw.hub.connectionCount).toBe(AGENTS);
    // Each agent stores i % 7 + 1 events before the restart.
    await Promise.all(
      peers.map(async (p, i) => {
        const n = (i % 7) + 1;
        const acked = p.next('ack', (m) => m.seq === n);
        p.send({ type: 'events', seq_from: 1, events: Array.from({ length: n }, (_, k) => ({ seq: k + 1, type: 'request', at: at(k) })) });
        await acked;
      }),
    );

    const closes = peers.map((p) => p.closed);
    await gw.close();
    const codes = new Set((await Promise.all(closes)).map((c) => c.code));
    expect(codes).toEqual(new Set([1001]));

    gw = await startTestGateway({ dataDir, port, config: FLEET_CONFIG });
    const again = tokens.map((t) => new Peer(gw!.wsUrl, t));
    const resumed = await Promise.all(again.map((p, i) => p.handshake(`fleet-${i}`, { outbox_stream: `s-${i}`, outbox_first_seq: 1 })));
    expect(gw.hub.connectionCount).toBe(AGENTS);
    resumed.forEach((r, i) => expect(r.ack.seq).toBe((i % 7) + 1));
    const versions = new Set(resumed.map((r) => r.policy.snapshot.version));
    expect(versions.size).toBe(1);
    for (const p of again) p.close();
    await Promise.all(again.map((p) => p.closed));
  });
});
