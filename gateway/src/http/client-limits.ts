// Per-client caps on the gateway's one listener (issue 15, attack 5): open connections per peer
// address, and request rates per peer and route class (enroll, admin, inference), each a token
// bucket. A client over a cap gets 429 with Retry-After instead of holding the gateway.
import type { Socket } from 'node:net';
import { systemClock, type Clock } from '../../../lib/index.ts';

export type RouteClass = 'enroll' | 'admin' | 'inference';

export interface RateLimit {
  /** Sustained requests per minute. */
  perMinute: number;
  /** Requests at once (refilled at the rate). */
  burst: number;
}

export interface ClientLimitSettings {
  /** Open connections from one peer address (websocket, keep-alive and in-flight requests together). */
  maxConnectionsPerClient: number;
  rates: Record<RouteClass, RateLimit>;
}

/**
 * Defaults: a device holds one websocket and its inference connections, and a device's inference
 * must have room for 1,024 concurrent requests (HTTP/1.1: one connection each), with a few devices
 * behind one NAT address; enrollment happens once per person and device; the admin API serves a
 * CLI or a console. docs/gateway.md states them.
 */
export const DEFAULT_CLIENT_LIMITS: ClientLimitSettings = {
  maxConnectionsPerClient: 4096,
  rates: {
    enroll: { perMinute: 600, burst: 100 },
    admin: { perMinute: 6000, burst: 1000 },
    inference: { perMinute: 60_000, burst: 4096 },
  },
};

export class ClientLimits {
  readonly #settings: ClientLimitSettings;
  readonly #clock: Clock;
  readonly #connections = new Map<string, number>();
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** Sockets accepted over the connection cap: their first request is answered 429, then they close. */
  readonly #over = new WeakSet<Socket>();

  constructor(settings: ClientLimitSettings = DEFAULT_CLIENT_LIMITS, clock: Clock = systemClock) {
    this.#settings = settings;
    this.#clock = clock;
  }

  /** Counts a new connection (call on the socket requests will arrive on); marks it when over the cap. */
  accept(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    const open = (this.#connections.get(address) ?? 0) + 1;
    this.#connections.set(address, open);
    if (open > this.#settings.maxConnectionsPerClient) this.#over.add(socket);
    socket.once('close', () => {
      const left = (this.#connections.get(address) ?? 1) - 1;
      if (left <= 0) this.#connections.delete(address);
      else this.#connections.set(address, left);
    });
  }

  /** Why this request must be refused with 429, if it must: over the connection cap or the route's rate. */
  check(socket: Socket, routeClass: RouteClass | undefined): { message: string; retryAfterS: number } | undefined {
    if (this.#over.has(socket)) {
      return {
        message: `more than ${this.#settings.maxConnectionsPerClient} open connections from this address; close idle ones and retry`,
        retryAfterS: 1,
      };
    }
    if (routeClass === undefined) return undefined;
    const rate = this.#settings.rates[routeClass];
    const key = `${routeClass}\u0000${socket.remoteAddress ?? 'unknown'}`;
    const now = this.#clock.now();
    const bucket = this.#buckets.get(key) ?? { tokens: rate.burst, at: now };
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((now - bucket.at) / 60_000) * rate.perMinute);
    bucket.at = now;
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    const retryAfterS = Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / rate.perMinute));
    return { message: `more than ${rate.perMinute} ${routeClass} requests a minute (burst ${rate.burst}) from this address; retry in ${retryAfterS} s`, retryAfterS };
  }

  /** Drops full, idle buckets (called now and then so the map does not grow with every address ever seen). */
  sweep(): void {
    const now = this.#clock.now();
    for (const [key, bucket] of this.#buckets) if (now - bucket.at > 10 * 60_000) this.#buckets.delete(key);
  }
}
