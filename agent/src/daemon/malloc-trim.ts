// Gives memory back to the OS: once after start-up, and after a burst of connections once it is
// over. A closed TLS connection's native memory (OpenSSL's state and buffers, Node's wrappers) is
// freed to glibc's malloc, which keeps it: 5,000 idle connections closing left RSS at 3x its earlier
// size for good (docs/performance.md). malloc_trim returns those pages but walks every arena, so it
// runs once per quiet period after the open connections fell well below their peak, never while apps
// are busy, and after a garbage collection (the closed connections' wrappers hold their native
// memory until V8 collects them).
import v8 from 'node:v8';
import vm from 'node:vm';
import { systemClock, type Clock, type ClockTimer } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { ClientActivity } from '../intercept/index.ts';

export interface MallocTrimOptions {
  /** glibc's malloc_trim through the addon (lib/sockdiag-addon.ts); undefined where it is not built. */
  trim: (() => boolean) | undefined;
  /**
   * Runs first (the daemon: collectAllGarbage): a closed connection's native memory reaches malloc
   * only when V8 collects its wrappers, which an idle daemon may not do for a while.
   */
  collect?: () => void;
  logger: Logger;
  clock?: Clock;
  /** No connection opened or closed and no request arrived for this long (default 10 s). */
  quietMs?: number;
  /** At least this many connections closed since the peak (default 200, ~12 MiB at ~60 KiB each)... */
  minDrop?: number;
  /** ...and at most this share of the peak still open (default a half). */
  maxShareOfPeak?: number;
}

/** Counts the proxies' open client connections and trims malloc in the quiet after they fall. */
export class MallocTrim implements ClientActivity {
  readonly #trim: (() => boolean) | undefined;
  readonly #collect: (() => void) | undefined;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #quietMs: number;
  readonly #minDrop: number;
  readonly #maxShareOfPeak: number;
  #open = 0;
  /** The most connections open at once since the last trim. */
  #peak = 0;
  #lastActivity = 0;
  #timer: ClockTimer | undefined;
  #trims = 0;

  constructor(options: MallocTrimOptions) {
    this.#trim = options.trim;
    this.#collect = options.collect;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#quietMs = options.quietMs ?? 10_000;
    this.#minDrop = options.minDrop ?? 200;
    this.#maxShareOfPeak = options.maxShareOfPeak ?? 0.5;
    if (!this.#trim) this.#logger.debug('malloc trim unavailable (the native addon is not built here, or its C library is not glibc): memory freed after a connection burst stays with malloc');
  }

  /** Trims done so far. */
  get trims(): number {
    return this.#trims;
  }

  connectionOpened(): void {
    this.#open++;
    if (this.#open > this.#peak) this.#peak = this.#open;
    this.#lastActivity = this.#clock.now();
  }

  connectionClosed(): void {
    this.#open--;
    this.#lastActivity = this.#clock.now();
    if (this.#timer === undefined && this.#trim && this.#fellFromPeak()) this.#wait(this.#quietMs);
  }

  requestArrived(): void {
    this.#lastActivity = this.#clock.now();
  }

  close(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fellFromPeak(): boolean {
    return this.#peak - this.#open >= this.#minDrop && this.#open <= this.#peak * this.#maxShareOfPeak;
  }

  #wait(ms: number): void {
    this.#timer = this.#clock.setTimeout(() => this.#check(), ms);
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    const quietFor = this.#clock.now() - this.#lastActivity;
    if (quietFor < this.#quietMs) {
      this.#wait(this.#quietMs - quietFor);
      return;
    }
    // Connections came back while waiting: their memory is in use again, nothing to give back.
    if (!this.#fellFromPeak()) return;
    const peak = this.#peak;
    const started = performance.now();
    this.#collect?.();
    const released = this.#trim?.() ?? false;
    this.#trims++;
    // The next trim needs a new peak and a new fall from it.
    this.#peak = this.#open;
    this.#logger.debug({ peak, open: this.#open, released, ms: Math.round((performance.now() - started) * 10) / 10 }, 'returned memory freed after a connection burst to the OS (garbage collection and malloc_trim)');
  }
}

/**
 * One last-resort garbage collection and a malloc trim, once start-up's work is done (the first MCP
 * discovery parsed every app's config files; the sync channel's first exchange). V8's memory reducer
 * only gets to that memory after ~20 s idle: RSS read 96.5 MiB 5 s after start and 78.8 MiB a
 * minute later (docs/performance.md). Once, not periodically: the collection stops the main thread
 * (~25-40 ms here), and later garbage is the memory reducer's job.
 */
export function releaseStartupMemory(trim: (() => boolean) | undefined, logger: Logger): void {
  const started = performance.now();
  const rssBefore = process.memoryUsage.rss();
  const collected = collectAllGarbage();
  const released = trim?.() ?? false;
  const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
  logger.debug(
    { collected, released, rss_before_mib: mib(rssBefore), rss_after_mib: mib(process.memoryUsage.rss()), ms: Math.round((performance.now() - started) * 10) / 10 },
    'released the memory start-up left (one last-resort garbage collection and malloc trim)',
  );
}

/**
 * A full collection now. `last-resort` is V8's own when memory runs out, as the memory reducer does
 * it: every unreachable object, then the young generation shrunk and the emptied pages unmapped; a
 * plain full collection frees the objects but keeps the pages (3 of 75 MiB of garbage returned,
 * against 75 with the last-resort flavor). The last-resort flavor also drops compiled code, so it is
 * for start-up only: after a connection burst it left the next minutes' requests running unoptimized
 * code (the shipped benchmark's CPU per request 1.6x higher after it). `gc` without starting node
 * with --expose-gc: the flag set at run time applies to contexts created after it, so a new vm
 * context carries the function (also in the bundle); it is switched off at once so no later context
 * gets it. False when V8 refused.
 */
export function collectAllGarbage(flavor: 'regular' | 'last-resort' = 'last-resort'): boolean {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    if (typeof gc !== 'function') return false;
    (gc as (options: object) => void)({ type: 'major', execution: 'sync', flavor });
    return true;
  } catch {
    return false;
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}
