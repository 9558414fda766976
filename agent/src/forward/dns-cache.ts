// A `lookup` for the gateway agent that honours DNS TTLs: the gateway's address is re-resolved
// when its record expires (a failover or a moved load balancer takes effect), but not on every
// new connection. Names DNS does not know (localhost, /etc/hosts entries) fall back to the OS.
import dns from 'node:dns';
import net from 'node:net';
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { Logger } from '../lib/logger.ts';

export interface DnsCacheOptions {
  /** Shortest time a record is kept, even with TTL 0 (seconds). */
  minTtlSeconds?: number;
  /** Longest time a record is kept, whatever its TTL says (seconds). */
  maxTtlSeconds?: number;
  /** How long an expired record may still be used while DNS fails (seconds). */
  staleOnErrorSeconds?: number;
  /** Per-query resolver timeout (ms). */
  resolverTimeoutMs?: number;
  logger: Logger;
  /** Injectable for tests; defaults to a `dns.promises.Resolver` using the system's servers. */
  resolver?: Pick<dns.promises.Resolver, 'resolve4' | 'resolve6'>;
  now?: () => number;
}

interface CacheEntry {
  addresses: LookupAddress[];
  expiresAt: number;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export type LookupFunction = (hostname: string, options: LookupOptions, callback: LookupCallback) => void;

export class DnsCache {
  readonly #min: number;
  readonly #max: number;
  readonly #stale: number;
  readonly #logger: Logger;
  readonly #resolver: Pick<dns.promises.Resolver, 'resolve4' | 'resolve6'>;
  readonly #now: () => number;
  readonly #entries = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<LookupAddress[]>>();

  constructor(options: DnsCacheOptions) {
    this.#min = (options.minTtlSeconds ?? 5) * 1000;
    this.#max = (options.maxTtlSeconds ?? 300) * 1000;
    this.#stale = (options.staleOnErrorSeconds ?? 60) * 1000;
    this.#logger = options.logger;
    this.#resolver = options.resolver ?? new dns.promises.Resolver({ timeout: options.resolverTimeoutMs ?? 2000, tries: 2 });
    this.#now = options.now ?? Date.now;
  }

  /** Addresses for `hostname`, from cache while fresh. */
  async resolve(hostname: string): Promise<LookupAddress[]> {
    const family = net.isIP(hostname);
    if (family !== 0) return [{ address: hostname, family }];
    const key = hostname.toLowerCase();
    const entry = this.#entries.get(key);
    if (entry && entry.expiresAt > this.#now()) return entry.addresses;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = this.#refresh(key, entry).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** The function to pass as `lookup` to an http(s).Agent or net.connect. */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    this.resolve(hostname).then(
      (all) => {
        const wanted = options.family === 4 || options.family === 6 ? all.filter((a) => a.family === options.family) : all;
        if (wanted.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = 'ENOTFOUND';
          callback(err, '');
          return;
        }
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };

  async #refresh(key: string, previous: CacheEntry | undefined): Promise<LookupAddress[]> {
    try {
      const { addresses, ttlSeconds } = await this.#query(key);
      const ttl = Math.min(this.#max, Math.max(this.#min, ttlSeconds * 1000));
      this.#entries.set(key, { addresses, expiresAt: this.#now() + ttl });
      return addresses;
    } catch (err) {
      if (previous && this.#now() - previous.expiresAt < this.#stale) {
        this.#logger.warn({ host: key, err: (err as Error).message }, 'gateway DNS lookup failed; using the expired record a little longer');
        return previous.addresses;
      }
      throw err;
    }
  }

  async #query(host: string): Promise<{ addresses: LookupAddress[]; ttlSeconds: number }> {
    // Single-label names (localhost, intranet short names) and *.localhost belong to the OS resolver.
    if (!host.includes('.') || host.endsWith('.localhost')) return this.#systemLookup(host);
    const [v4, v6] = await Promise.allSettled([
      this.#resolver.resolve4(host, { ttl: true }),
      this.#resolver.resolve6(host, { ttl: true }),
    ]);
    const addresses: LookupAddress[] = [];
    let ttl = Infinity;
    if (v4.status === 'fulfilled') for (const r of v4.value) { addresses.push({ address: r.address, family: 4 }); ttl = Math.min(ttl, r.ttl); }
    if (v6.status === 'fulfilled') for (const r of v6.value) { addresses.push({ address: r.address, family: 6 }); ttl = Math.min(ttl, r.ttl); }
    if (addresses.length > 0) return { addresses, ttlSeconds: ttl };
    // Not in DNS (an /etc/hosts entry, a split-horizon name the OS knows): ask the OS, keep briefly.
    return this.#systemLookup(host);
  }

  async #systemLookup(host: string): Promise<{ addresses: LookupAddress[]; ttlSeconds: number }> {
    const addresses = await dns.promises.lookup(host, { all: true });
    return { addresses, ttlSeconds: 0 };
  }
}
