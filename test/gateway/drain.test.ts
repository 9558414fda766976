// The drain's spread (issue 21, point 5), on a real in-process gateway whose hub runs on a
// ManualClock: agents are closed with 4503 one after another over the drain window, never all at
// once; each was told the reconnect window in `settings`; the drain ends (and the gateway stops)
// when the last agent is gone, without waiting for the window's grace. (Refused connects and
// /readyz during a drain: health.test.ts, on a real process.)
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULT_DRAIN, EMPTY_CONFIG } from '../../gateway/src/config.ts';
import { ManualClock } from '../../lib/index.ts';
import { CLOSE_CODES } from '../../protocol/index.ts';
import { enrolledDevice, Peer, startTestGateway, type TestGateway } from './helpers.ts';

const AGENTS = 4;
const WINDOW_MS = 4_000;

describe('draining a replica', () => {
  const clock = new ManualClock();
  let gw: TestGateway | undefined;

  afterAll(async () => {
    await gw?.stop();
  });

  it('closes its agents with 4503 spread over the window, having told them the reconnect window', async () => {
    gw = await startTestGateway({ clock, config: { ...EMPTY_CONFIG, drain: { ...DEFAULT_DRAIN, windowMs: WINDOW_MS, reconnectWindowS: 7 } } });
    const peers: Peer[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const id = `dev-drain-${i}`;
      const peer = new Peer(gw.wsUrl, (await enrolledDevice(gw, id)).token);
      await peer.handshake(id);
      expect(peer.messages.find((m) => m.type === 'settings')).toMatchObject({ drain_reconnect_s: 7 });
      peers.push(peer);
    }

    const drained = gw.drain();
    const open = () => peers.map((p) => p.ws.readyState === WebSocket.OPEN);
    // The hub's timers run on the ManualClock: before it moves, no close can have been sent, so
    // "still open" below is a fact, not a race.
    clock.advance(0);
    expect(await peers[0]!.closed).toEqual({ code: CLOSE_CODES.draining.code, reason: 'gateway replica draining: reconnect to another one' });
    expect(open()).toEqual([false, true, true, true]);
    const step = WINDOW_MS / AGENTS;
    for (let i = 1; i < AGENTS; i++) {
      clock.advance(step - 1);
      expect(open()[i]).toBe(true);
      clock.advance(1);
      expect(await peers[i]!.closed).toMatchObject({ code: CLOSE_CODES.draining.code });
    }
    await drained;
    expect(gw.hub.connectionCount).toBe(0);
  });
});
