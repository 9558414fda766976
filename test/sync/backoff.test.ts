import { describe, expect, it } from 'vitest';
import { computeBackoff, DEFAULT_BACKOFF } from '../../agent/src/sync/index.ts';

describe('computeBackoff', () => {
  it('stays within [floor, min(cap, base * 2^attempt)] for the extremes of the random source', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** attempt);
      expect(computeBackoff(attempt, () => 0)).toBe(DEFAULT_BACKOFF.floorMs);
      expect(computeBackoff(attempt, () => 0.999999)).toBeLessThanOrEqual(ceiling);
      expect(computeBackoff(attempt, () => 0.999999)).toBeGreaterThan(ceiling - 2);
    }
  });

  it('starts at 1 s and caps at 60 s', () => {
    expect(computeBackoff(0, () => 0.999999)).toBeLessThanOrEqual(1000);
    expect(computeBackoff(5, () => 0.999999)).toBeLessThanOrEqual(32_000);
    expect(computeBackoff(6, () => 0.999999)).toBeLessThanOrEqual(60_000);
    expect(computeBackoff(6, () => 0.999999)).toBeGreaterThan(59_000);
    expect(computeBackoff(10_000, () => 0.999999)).toBeLessThanOrEqual(60_000);
  });

  it('is never zero, even for a random source that returns 0 or garbage', () => {
    expect(computeBackoff(0, () => 0)).toBeGreaterThan(0);
    expect(computeBackoff(0, () => -5)).toBeGreaterThan(0);
    expect(computeBackoff(0, () => Number.NaN)).toBeGreaterThan(0);
    expect(computeBackoff(-3, () => 0.5)).toBeGreaterThan(0);
  });

  it('spreads uniformly over the window (full jitter, not equal jitter)', () => {
    const samples = Array.from({ length: 10_000 }, () => computeBackoff(3));
    const ceiling = 8000;
    // Full jitter puts a quarter of the delays in the lowest quarter of the window; "equal jitter"
    // (half fixed + half random) would put none there.
    const lowQuarter = samples.filter((d) => d < ceiling / 4).length / samples.length;
    expect(lowQuarter).toBeGreaterThan(0.2);
    expect(lowQuarter).toBeLessThan(0.3);
    expect(Math.max(...samples)).toBeLessThanOrEqual(ceiling);
  });
});
