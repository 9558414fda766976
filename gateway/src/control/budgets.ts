// Device budgets: what one device may add (catalog items, inventory rows, events per minute, message
// sizes), checked when its messages are ingested. A message over a budget is refused with a reason
// the device gets (`over_budget`) and an admin event, never with a close the agent would retry.
import type { BudgetName } from '../../../protocol/index.ts';
import type { DeviceBudgets } from '../store/index.ts';

export interface OverBudget {
  budget: BudgetName;
  limit: number;
  got: number;
  /** For a person: what was refused and what to do. */
  message: string;
}

export function overBudget(budget: BudgetName, limit: number, got: number, what: string): OverBudget {
  return {
    budget,
    limit,
    got,
    message: `${what}: ${got} exceeds this device's ${budget} budget of ${limit}; the message was dropped (an administrator can raise it: heimdall-gateway budgets set ${budget} N)`,
  };
}

/**
 * Events per minute as a token bucket per device: `events_burst` at once, refilled at
 * `events_per_minute`. Kept across reconnects (a device does not get a fresh burst by reconnecting).
 */
export class EventRate {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes up to `wanted` events for the device at time `now`; returns how many may be stored. */
  take(deviceId: string, wanted: number, budgets: DeviceBudgets, now: number): number {
    const bucket = this.#buckets.get(deviceId) ?? { tokens: budgets.events_burst, at: now };
    const refilled = Math.min(budgets.events_burst, bucket.tokens + ((now - bucket.at) / 60_000) * budgets.events_per_minute);
    const allowed = Math.max(0, Math.min(wanted, Math.floor(refilled)));
    this.#buckets.set(deviceId, { tokens: refilled - allowed, at: now });
    return allowed;
  }

  forget(deviceId: string): void {
    this.#buckets.delete(deviceId);
  }
}

/** One admin event per device and budget per minute; the ones in between are counted into the next. */
export class BudgetEventThrottle {
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  /** Whether to record now, and how many were suppressed since the last one recorded. */
  admit(deviceId: string, budget: BudgetName, now: number): { record: boolean; suppressed: number } {
    const key = `${deviceId}\u0000${budget}`;
    const last = this.#last.get(key);
    if (last && now - last.at < 60_000) {
      last.suppressed++;
      return { record: false, suppressed: 0 };
    }
    this.#last.set(key, { at: now, suppressed: 0 });
    return { record: true, suppressed: last?.suppressed ?? 0 };
  }
}
