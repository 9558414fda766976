// The connection stage's retry loop alone, on a ManualClock: when attempts are due, how the window
// grows, and when it resets.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../agent/src/lib/clock.ts';
import { Reconnect } from '../../agent/src/sync/index.ts';

const BACKOFF = { baseMs: 1000, capMs: 8000, floorMs: 100 };

function loop(rng: () => number = () => 0.999_999) {
  const clock = new ManualClock();
  const reconnect = new Reconnect({ clock, backoff: BACKOFF, rng, stableAfterMs: 10_000 });
  return { clock, reconnect };
}

describe('reconnect loop', () => {
  it('runs the attempt when its delay is due on the clock, not before', () => {
    const { clock, reconnect } = loop(() => 0.5);
    let attempts = 0;
    const delay = reconnect.schedule(() => attempts++);
    expect(reconnect.dueAt).toBe(clock.now() + delay);
    clock.advance(delay - 1);
    expect(attempts).toBe(0);
    clock.advance(1);
    expect(attempts).toBe(1);
    expect(reconnect.dueAt).toBeNull();
  });

  it('grows the window with each failed attempt up to the cap', () => {
    const { reconnect } = loop();
    const delays = Array.from({ length: 6 }, () => reconnect.schedule(() => undefined));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });

  it('resets the window only after a connection stayed up for stableAfterMs', () => {
    const { clock, reconnect } = loop();
    for (let i = 0; i < 3; i++) reconnect.schedule(() => undefined);
    // A connection that drops before it proved stable: the window keeps growing.
    reconnect.connected();
    clock.advance(9_999);
    expect(reconnect.schedule(() => undefined)).toBe(8000);
    // One that lasts: the next drop starts from the first window.
    reconnect.connected();
    clock.advance(10_000);
    expect(reconnect.schedule(() => undefined)).toBe(1000);
  });

  it('forgets a scheduled attempt when cancelled, and starts afresh after reset', () => {
    const { clock, reconnect } = loop();
    let attempts = 0;
    reconnect.schedule(() => attempts++);
    reconnect.schedule(() => attempts++);
    reconnect.cancel();
    expect(reconnect.dueAt).toBeNull();
    clock.advance(60_000);
    expect(attempts).toBe(0);
    reconnect.reset();
    expect(reconnect.schedule(() => attempts++)).toBe(1000);
  });
});
