// The manual clock the gateway's tests move instead of sleeping: timers run at their own instant, in
// due order, including timers scheduled while advancing; cleared timers never run.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../lib/index.ts';

describe('ManualClock', () => {
  it('runs each timer that falls due, in due order, at its own instant', () => {
    const clock = new ManualClock(1_000);
    const ran: [string, number][] = [];
    clock.setTimeout(() => ran.push(['b', clock.now()]), 200);
    clock.setTimeout(() => ran.push(['a', clock.now()]), 100);
    clock.setTimeout(() => ran.push(['late', clock.now()]), 500);
    clock.advance(300);
    expect(ran).toEqual([['a', 1_100], ['b', 1_200]]);
    expect(clock.now()).toBe(1_300);
    expect(clock.pendingTimers).toBe(1);
    expect(clock.nextDueInMs).toBe(200);
  });

  it('runs a timer re-armed inside the window (a heartbeat) once per period', () => {
    const clock = new ManualClock(0);
    const beats: number[] = [];
    const beat = () => {
      beats.push(clock.now());
      clock.setTimeout(beat, 100);
    };
    clock.setTimeout(beat, 100);
    clock.advance(350);
    expect(beats).toEqual([100, 200, 300]);
  });

  it('never runs a cleared timer', () => {
    const clock = new ManualClock(0);
    let ran = false;
    const timer = clock.setTimeout(() => (ran = true), 10);
    clock.clearTimeout(timer);
    clock.advance(1_000);
    expect(ran).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });
});
