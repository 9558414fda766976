// Reconnect delays: exponential backoff with full jitter, as protocol/limits.ts prescribes
// (uniform in [0, min(cap, base * 2^attempt)]), with one deviation: a small floor. Without it a
// random() of 0 (or a ceiling rounded to 0) would reconnect in the same tick, and a gateway that
// closes every connection at once would see a tight loop. The floor is far below the first
// ceiling (100 ms of 1 s), so the spread of a fleet reconnecting after a restart is kept.
import { TIMING } from '../../../protocol/index.ts';

export interface BackoffPolicy {
  /** Ceiling of the first delay. */
  baseMs: number;
  /** Largest ceiling. */
  capMs: number;
  /** No delay is shorter than this. */
  floorMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseMs: TIMING.reconnectMinS * 1000,
  capMs: TIMING.reconnectMaxS * 1000,
  floorMs: 100,
};

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry after a connection was lost):
 * uniform in [floor, min(cap, base * 2^attempt)]. `rng` returns [0, 1) like Math.random.
 */
export function computeBackoff(attempt: number, rng: () => number = Math.random, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const exponent = Number.isFinite(attempt) ? Math.max(0, Math.min(Math.floor(attempt), 40)) : 40;
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  const floor = Math.min(policy.floorMs, ceiling);
  const raw = rng();
  const r = Number.isFinite(raw) ? Math.min(Math.max(raw, 0), 1) : 0.5;
  return Math.round(floor + r * (ceiling - floor));
}
