// The policy channel stage: snapshots from the gateway go to the policy room one at a time (a flood
// of pushes coalesces to the newest), the periodic full resync asks the gateway again, and a
// snapshot the policy room refuses is reported upstream as a `policy.rejected` event. Whether a
// snapshot is newer, the same or stale is the policy room's answer (PolicyEngine.offerPolicySnapshot),
// never decided here.
import { TIMING } from '../../../protocol/index.ts';
import type { PolicySnapshot } from '../../../protocol/index.ts';
import type { Clock, ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { SnapshotOutcome } from '../policy/index.ts';
import type { Database } from '../store/index.ts';
import { truncate, type Link } from './connection.ts';
import type { Outbox } from './outbox.ts';
import { PolicyState, type KnownPolicy } from './policy-state.ts';

/** What the sync room needs from the policy room (PolicyEngine fits). */
export interface PolicyRoom {
  /** The version in force; null when none. Sent in `hello` and `resync`. */
  version(): number | null;
  /** Validates and applies a snapshot, or says why not; the version and stale checks live there. */
  offerPolicySnapshot(snapshot: PolicySnapshot): SnapshotOutcome | Promise<SnapshotOutcome>;
}

export interface PolicyChannelOptions {
  policy: PolicyRoom;
  outbox: Outbox;
  /** The store's database, for what the channel remembers (policy-state.ts). */
  db: Database;
  clock: Clock;
  /** [0, 1) like Math.random: spreads the resync of a fleet that connected together. */
  rng: () => number;
  logger: Logger;
  /** Resync period override (tests, development); otherwise the policy's settings.full_resync_s. */
  fullResyncMs?: number;
}

export class PolicyChannel {
  readonly #o: PolicyChannelOptions;
  readonly #state: PolicyState;
  #known: KnownPolicy | undefined;
  #link: Link | undefined;
  #resyncTimer: ClockTimer | undefined;
  /** The newest snapshot waiting while another is being handed over. */
  #next: PolicySnapshot | undefined;
  #applying = false;
  #chain: Promise<void> = Promise.resolve();

  constructor(options: PolicyChannelOptions) {
    this.#o = options;
    this.#state = new PolicyState(options.db);
    this.#known = this.#state.load();
  }

  /** The version in force, as the policy room says. */
  version(): number | null {
    return this.#o.policy.version();
  }

  /** Seconds since the gateway last sent or re-confirmed the policy in force; null when none. */
  ageSeconds(): number | null {
    if (!this.#known || this.version() === null) return null;
    return Math.max(0, Math.round((this.#o.clock.now() - Date.parse(this.#known.confirmedAt)) / 1000));
  }

  /** The channel is usable on `link`: resync on it periodically. */
  attach(link: Link): void {
    this.#link = link;
    this.#scheduleResync();
  }

  detach(): void {
    this.#o.clock.clearTimeout(this.#resyncTimer);
    this.#resyncTimer = undefined;
    this.#link = undefined;
  }

  /** Resolves when every snapshot received so far has been handed over. */
  settled(): Promise<void> {
    return this.#chain;
  }

  /** A snapshot from the gateway: handed over in order; while one is in the policy room, only the newest waits. */
  offer(snapshot: PolicySnapshot): void {
    if (this.#next && snapshot.version < this.#next.version) return;
    this.#next = snapshot;
    if (this.#applying) return;
    this.#applying = true;
    this.#chain = (async () => {
      try {
        while (this.#next) {
          const next = this.#next;
          this.#next = undefined;
          try {
            await this.#handOver(next);
          } catch (err) {
            // Storing the confirmation failed (disk full?): the next push or resync tries again.
            this.#o.logger.error({ err, version: next.version }, 'sync channel: failed to record an applied policy');
          }
        }
      } finally {
        this.#applying = false;
      }
    })();
  }

  /** A policy message that failed the protocol never reaches the policy room; the gateway hears of it. */
  invalid(reason: string): void {
    this.#reportRejected(null, `policy message failed the protocol: ${reason}`);
  }

  async #handOver(snapshot: PolicySnapshot): Promise<void> {
    let result: SnapshotOutcome;
    try {
      result = await this.#o.policy.offerPolicySnapshot(snapshot);
    } catch (err) {
      result = { outcome: 'rejected', error: `the policy room threw: ${(err as Error).message}` };
    }
    switch (result.outcome) {
      case 'stale':
        this.#o.logger.info({ version: result.version, held: result.heldVersion }, 'sync channel: ignored a policy older than the one held');
        return;
      case 'rejected':
        this.#o.logger.warn({ version: snapshot.version, reason: truncate(result.error, 300) }, 'sync channel: policy snapshot rejected; keeping the last good policy');
        this.#reportRejected(snapshot.version, result.error);
        return;
      case 'applied':
        // The policy room logs the change at info; this is the channel's view of it.
        this.#o.logger.debug({ version: snapshot.version, previous: result.previousVersion }, 'policy from the gateway handed to the policy room');
        break;
      case 'unchanged':
        break;
    }
    const now = new Date(this.#o.clock.now()).toISOString();
    this.#known = { version: snapshot.version, confirmedAt: now, fullResyncS: snapshot.settings.full_resync_s };
    this.#state.save(this.#known, now);
    this.#scheduleResync();
  }

  #reportRejected(version: number | null, reason: string): void {
    try {
      this.#o.outbox.enqueue({
        type: 'policy.rejected',
        at: new Date(this.#o.clock.now()).toISOString(),
        attrs: { version, reason: truncate(reason, 1000), held_version: this.version() },
      });
    } catch (err) {
      this.#o.logger.error({ err }, 'could not queue the policy.rejected event');
    }
  }

  #scheduleResync(): void {
    const link = this.#link;
    if (!link || link.ended) return;
    this.#o.clock.clearTimeout(this.#resyncTimer);
    const periodS = this.#known?.fullResyncS && this.#known.fullResyncS >= 30 ? this.#known.fullResyncS : TIMING.defaultFullResyncS;
    const periodMs = this.#o.fullResyncMs ?? periodS * 1000;
    // ±10 % so a fleet that connected together does not resync together forever.
    const delay = Math.round(periodMs * (0.9 + 0.2 * this.#o.rng()));
    this.#resyncTimer = this.#o.clock.setTimeout(() => {
      this.#resyncTimer = undefined;
      if (link.ended || this.#link !== link) return;
      link.send({ type: 'resync', policy_version: this.version() });
      this.#scheduleResync();
    }, delay);
    this.#resyncTimer.unref();
  }
}
