// Leaf certificates as ready-to-use TLS SecureContexts, one per intercepted host: minted once with
// the process's shared leaf key, shared by concurrent callers, renewed in the background before expiry.
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from '../lib/logger.ts';
import { createLeafCsr, DEFAULT_RSA_BITS, generateRsaKeyPair, HostNotPermittedError, normaliseHost, type PemKeyPair } from '../../../lib/index.ts';
import type { LeafSigner } from './signer.ts';

export const DEFAULT_MAX_CACHED_HOSTS = 1024;
export const DEFAULT_RENEW_RETRY_MS = 60_000;

export interface CertificateManagerOptions {
  signer: LeafSigner;
  logger: Logger;
  /**
   * Renew a leaf once less than this much of its life is left. Default: a third of the leaf's
   * whole validity (15 days of a 45-day leaf).
   */
  renewBeforeMs?: number | undefined;
  /** Size of the shared leaf key (RSA). */
  leafKeyBits?: number | undefined;
  /** Least-recently-used hosts beyond this are dropped (and re-minted if asked for again). */
  maxCachedHosts?: number | undefined;
  /** Wait this long after a failed background renewal before trying that host again. */
  renewRetryMs?: number | undefined;
}

export interface CertificateManagerStats {
  mode: LeafSigner['mode'];
  cachedHosts: number;
  inFlight: number;
  /** Leaves signed and installed since start (first mints and renewals). */
  mints: number;
  renewals: number;
  mintFailures: number;
}

export interface PrewarmResult {
  minted: string[];
  failed: { host: string; error: string }[];
}

interface CachedLeaf {
  context: SecureContext;
  notAfter: number;
  renewAt: number;
}

export class CertificateManager {
  readonly #signer: LeafSigner;
  readonly #logger: Logger;
  readonly #renewBeforeMs: number | undefined;
  readonly #leafKeyBits: number;
  readonly #maxCachedHosts: number;
  readonly #renewRetryMs: number;
  // Insertion order doubles as recency order: a hit moves the host to the end.
  readonly #entries = new Map<string, CachedLeaf>();
  readonly #inFlight = new Map<string, Promise<CachedLeaf>>();
  readonly #renewalBlockedUntil = new Map<string, number>();
  #leafKey: Promise<PemKeyPair> | undefined;
  #lastCaPem: string | undefined;
  #lastCaIsRoot = true;
  #mints = 0;
  #renewals = 0;
  #mintFailures = 0;

  constructor(options: CertificateManagerOptions) {
    this.#signer = options.signer;
    this.#logger = options.logger;
    this.#renewBeforeMs = options.renewBeforeMs;
    this.#leafKeyBits = options.leafKeyBits ?? DEFAULT_RSA_BITS;
    this.#maxCachedHosts = options.maxCachedHosts ?? DEFAULT_MAX_CACHED_HOSTS;
    this.#renewRetryMs = options.renewRetryMs ?? DEFAULT_RENEW_RETRY_MS;
  }

  /**
   * The SecureContext presenting a leaf for `host`. Throws InvalidHostError for a malformed host and
   * HostNotPermittedError for one outside the CA's name constraints; signer errors pass through.
   */
  async secureContextFor(host: string): Promise<SecureContext> {
    const name = normaliseHost(host).host;
    // A cached host was admitted when it was minted; only a miss pays for the constraint check.
    const cached = this.#lookup(name);
    if (cached) return cached.context;
    if (!this.#signer.permits(name)) throw new HostNotPermittedError(name, this.#signer.permittedNames());
    return (await this.#mint(name)).context;
  }

  /**
   * The cached SecureContext for `host`, or undefined when none is ready (never mints, never throws).
   * Lets the proxy's hot path skip a promise when the host is already known.
   */
  cachedSecureContextFor(host: string): SecureContext | undefined {
    let name: string;
    try {
      name = normaliseHost(host).host;
    } catch {
      return undefined;
    }
    return this.#lookup(name)?.context;
  }

  /** Mints leaves for `hosts` ahead of the first connection (the routing table's hosts at start). */
  async prewarm(hosts: readonly string[]): Promise<PrewarmResult> {
    const results = await Promise.allSettled(hosts.map((h) => this.secureContextFor(h)));
    const out: PrewarmResult = { minted: [], failed: [] };
    results.forEach((r, i) => {
      const host = hosts[i]!;
      if (r.status === 'fulfilled') out.minted.push(host);
      else {
        const error = r.reason instanceof Error ? r.reason.message : String(r.reason);
        out.failed.push({ host, error });
        this.#logger.warn({ event: 'tls.leaf.prewarm_failed', host, err: error }, 'could not mint a leaf certificate at start');
      }
    });
    return out;
  }

  stats(): CertificateManagerStats {
    return {
      mode: this.#signer.mode,
      cachedHosts: this.#entries.size,
      inFlight: this.#inFlight.size,
      mints: this.#mints,
      renewals: this.#renewals,
      mintFailures: this.#mintFailures,
    };
  }

  /** Forgets every cached leaf (after the CA changes); the next lookups mint again. */
  clear(): void {
    this.#entries.clear();
    this.#renewalBlockedUntil.clear();
  }

  #lookup(name: string): CachedLeaf | undefined {
    const entry = this.#entries.get(name);
    if (!entry) return undefined;
    const now = Date.now();
    if (now >= entry.notAfter) {
      this.#entries.delete(name);
      return undefined;
    }
    this.#entries.delete(name);
    this.#entries.set(name, entry);
    if (now >= entry.renewAt) this.#renewInBackground(name, now);
    return entry;
  }

  #mint(name: string): Promise<CachedLeaf> {
    const pending = this.#inFlight.get(name);
    if (pending) return pending;
    const minting = this.#issue(name)
      .then(
        (entry) => {
          this.#store(name, entry);
          this.#mints++;
          return entry;
        },
        (err: unknown) => {
          this.#mintFailures++;
          throw err;
        },
      )
      .finally(() => this.#inFlight.delete(name));
    this.#inFlight.set(name, minting);
    return minting;
  }

  #renewInBackground(name: string, now: number): void {
    if (this.#inFlight.has(name) || (this.#renewalBlockedUntil.get(name) ?? 0) > now) return;
    // The current context keeps serving; the new one replaces it when ready.
    this.#mint(name).then(
      () => {
        this.#renewals++;
        this.#renewalBlockedUntil.delete(name);
        this.#logger.debug({ event: 'tls.leaf.renewed', host: name }, 'renewed leaf certificate');
      },
      (err: unknown) => {
        this.#renewalBlockedUntil.set(name, Date.now() + this.#renewRetryMs);
        this.#logger.warn(
          { event: 'tls.leaf.renew_failed', host: name, err: err instanceof Error ? err.message : String(err) },
          'could not renew leaf certificate; the current one keeps serving until it expires',
        );
      },
    );
  }

  async #issue(name: string): Promise<CachedLeaf> {
    const key = await this.#leafKeyPair();
    const csrPem = createLeafCsr([name], key);
    const signed = await this.#signer.signLeaf({ hosts: [name], csrPem, publicKeyPem: key.publicKeyPem });
    // A remote signer's answer is checked, not trusted: it must name this host.
    const leaf = new X509Certificate(signed.certPem);
    const kind = normaliseHost(name).kind;
    if ((kind === 'ip' ? leaf.checkIP(name) : leaf.checkHost(name, { wildcards: false })) === undefined) {
      throw new Error(`the ${this.#signer.mode} signer returned a certificate that does not name ${name}`);
    }
    const context = createSecureContext({
      key: key.privateKeyPem,
      cert: this.#isRoot(signed.caPem) ? signed.certPem : `${signed.certPem.trimEnd()}\n${signed.caPem}`,
      minVersion: 'TLSv1.2',
    });
    const notBefore = signed.notBefore.getTime();
    const notAfter = signed.notAfter.getTime();
    const renewBefore = this.#renewBeforeMs ?? (notAfter - notBefore) / 3;
    return { context, notAfter, renewAt: notAfter - renewBefore };
  }

  /** Clients hold the root; an intermediate (a gateway CA under an org root) is sent with the leaf. */
  #isRoot(caPem: string): boolean {
    if (caPem !== this.#lastCaPem) {
      const ca = new X509Certificate(caPem);
      this.#lastCaIsRoot = ca.checkIssued(ca) && ca.verify(ca.publicKey);
      this.#lastCaPem = caPem;
    }
    return this.#lastCaIsRoot;
  }

  #leafKeyPair(): Promise<PemKeyPair> {
    if (!this.#leafKey) {
      this.#leafKey = generateRsaKeyPair(this.#leafKeyBits);
      this.#leafKey.catch(() => {
        this.#leafKey = undefined;
      });
    }
    return this.#leafKey;
  }

  #store(name: string, entry: CachedLeaf): void {
    this.#entries.delete(name);
    this.#entries.set(name, entry);
    while (this.#entries.size > this.#maxCachedHosts) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }
}
