// The governed traffic path as one service: the interception CA (local or gateway-held), the leaf
// cache, the files apps need to trust it, and the loopback proxy. Rebuilt in place when the managed
// config changes a setting it depends on; connections already open finish on the old proxy.
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ConfigKey, HeimdallConfig } from '../config/index.ts';
import { Forwarder, interceptedHosts, permittedDomains, type GatewayCredential } from '../forward/index.ts';
import {
  createProxyServer,
  TargetGuard,
  writeCaBundle,
  type Attribution,
  type ClientActivity,
  type ExchangeRecord,
  type Governor,
  type ProxyAddress,
  type ProxyServer,
} from '../intercept/index.ts';
import type { Logger } from '../lib/logger.ts';
import { writeFileAtomic } from '../lib/private-fs.ts';
import type { GatewayCaSigner } from '../sync/index.ts';
import { CertificateManager, loadOrCreateLocalCa, type LeafSigner } from '../tls/index.ts';
import type { Service } from './lifecycle.ts';
import type { Blocker } from './status.ts';

export interface InterceptionOptions {
  stateDir: string;
  publicDir: string;
  deviceId: string;
  /** The current device token, for the gateway to attribute inference to this device. */
  deviceToken?: () => string | undefined;
  governor: Governor;
  getCredential: (attribution: Attribution) => GatewayCredential | undefined;
  onExchangeComplete: (record: ExchangeRecord) => void;
  /** Told of every proxy's client connections and requests (the daemon's malloc trim). */
  activity?: ClientActivity;
  /** Builds the gateway-held CA signer (ca_mode gateway). */
  gatewaySigner: (onCaCertificate: (caPem: string) => void) => GatewayCaSigner;
  logger: Logger;
}

/** A proxy and the forwarder it hands exchanges to: built, drained and closed together. */
interface Front {
  proxy: ProxyServer;
  forwarder: Forwarder;
}

/** Settings the proxy and forwarder are built from: a change to any of them rebuilds both. */
const PROXY_KEYS: readonly ConfigKey[] = ['gateway_url', 'support_url', 'organization', 'proxy_port', 'pac_port', 'intercept', 'ca_mode', 'local_targets_allowed'];

export interface InterceptionStatus {
  state: 'running' | 'off' | 'not_configured' | 'failed';
  summary: string;
  proxy_url: string | null;
  pac_url: string | null;
  ca: { mode: HeimdallConfig['ca_mode']; certificate_path: string | null; bundle_path: string | null; fingerprint_sha256: string | null };
  active_connections: number;
  exchanges: { route: string; decision: string; count: number }[];
  last_error: string | null;
}

export interface ProxyEnvironmentFacts {
  proxyUrl: string;
  pacUrl: string;
  caCertPath: string;
  caBundlePath: string;
}

export class Interception implements Service {
  readonly name = 'interception';
  readonly #o: InterceptionOptions;
  #config: HeimdallConfig | undefined;
  #front: Front | undefined;
  #address: ProxyAddress | undefined;
  #certificates: CertificateManager | undefined;
  #signerMode: HeimdallConfig['ca_mode'] | undefined;
  #ca: { certPath: string; bundlePath: string; fingerprint: string } | undefined;
  #lastError: string | undefined;
  #retiring = new Set<Front>();
  #applying: Promise<void> = Promise.resolve();

  constructor(options: InterceptionOptions) {
    this.#o = options;
  }

  /** Applies a config: first at start, then on every change (serialised). */
  apply(config: HeimdallConfig, changed?: readonly ConfigKey[]): Promise<void> {
    if (changed && !changed.some((k) => PROXY_KEYS.includes(k))) return this.#applying;
    this.#applying = this.#applying.then(() => this.#apply(config)).catch((err: unknown) => {
      this.#lastError = (err as Error).message;
      this.#o.logger.error({ err: this.#lastError }, 'could not start interception; AI traffic is not governed until this is fixed');
    });
    return this.#applying;
  }

  async #apply(config: HeimdallConfig): Promise<void> {
    this.#config = config;
    this.#lastError = undefined;
    this.#retire();
    if (!config.intercept || !config.gateway_url) return;
    const certificates = await this.#certificatesFor(config);
    const logger = this.#o.logger.child({ room: 'intercept' });
    const forwarder = new Forwarder({
      gatewayUrl: config.gateway_url,
      deviceId: this.#o.deviceId,
      ...(this.#o.deviceToken ? { deviceToken: this.#o.deviceToken } : {}),
      ...(config.support_url ? { supportUrl: config.support_url } : {}),
      logger,
    });
    const proxy = createProxyServer({
      forwarder,
      ...(config.support_url ? { supportUrl: config.support_url } : {}),
      ...(config.organization ? { organization: config.organization } : {}),
      port: config.proxy_port,
      ...(config.pac_port !== undefined && config.pac_port !== config.proxy_port ? { pacPort: config.pac_port } : {}),
      certificates,
      targetGuard: new TargetGuard({ allowed: config.local_targets_allowed }),
      governor: this.#o.governor,
      getCredential: this.#o.getCredential,
      onExchangeComplete: this.#o.onExchangeComplete,
      ...(this.#o.activity ? { activity: this.#o.activity } : {}),
      logger,
    });
    try {
      this.#address = await proxy.listen();
    } catch (err) {
      forwarder.close();
      throw err;
    }
    this.#front = { proxy, forwarder };
    this.#o.logger.info({ proxy: this.#address.proxyUrl, pac: this.#address.pacUrl, ca_mode: config.ca_mode }, 'interception proxy listening');
  }

  async #certificatesFor(config: HeimdallConfig): Promise<CertificateManager> {
    if (this.#certificates && this.#signerMode === config.ca_mode) return this.#certificates;
    const logger = this.#o.logger.child({ room: 'tls' });
    let signer: LeafSigner;
    if (config.ca_mode === 'local') {
      const ca = await loadOrCreateLocalCa({ stateDir: this.#o.stateDir, permittedDomains: permittedDomains(), ...(config.organization ? { organization: config.organization } : {}), logger });
      signer = ca.signer;
      await this.#publishCa(ca.certPem, ca.fingerprintSha256);
    } else {
      signer = this.#o.gatewaySigner((caPem) => {
        this.#publishCa(caPem, undefined).catch((err: unknown) => logger.error({ err: (err as Error).message }, 'could not write the gateway CA for apps'));
      });
    }
    const certificates = new CertificateManager({ signer, logger });
    this.#certificates = certificates;
    this.#signerMode = config.ca_mode;
    // Mint every routing-table host now so the first request pays no signing cost. In gateway mode the
    // channel may not be up yet: prewarm() runs again once it connects.
    const warm = this.prewarm();
    if (config.ca_mode === 'local') await warm;
    return certificates;
  }

  /** Mints leaves for every routing-table host not cached yet; failures are logged and retried on use. */
  async prewarm(): Promise<void> {
    const certificates = this.#certificates;
    if (!certificates) return;
    const result = await certificates.prewarm(interceptedHosts());
    if (result.failed.length > 0) {
      this.#o.logger.warn({ room: 'tls', failed: result.failed.map((f) => f.host) }, 'could not mint some leaf certificates yet; they will be minted on first use');
    }
  }

  get caMode(): HeimdallConfig['ca_mode'] | undefined {
    return this.#signerMode;
  }

  /** Writes the CA and a bundle of system roots + CA where every user's apps can read them. */
  async #publishCa(caPem: string, fingerprint: string | undefined): Promise<void> {
    const dir = this.#o.publicDir;
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if (dir !== this.#o.stateDir && process.platform !== 'win32') await chmod(dir, 0o755);
    const certPath = path.join(dir, 'ca.pem');
    await writeFileAtomic(certPath, caPem, { mode: 0o644 });
    const bundle = await writeCaBundle(dir, caPem);
    const fp = fingerprint ?? new X509Certificate(caPem).fingerprint256;
    this.#ca = { certPath, bundlePath: bundle.path, fingerprint: fp };
  }

  #retire(): void {
    const old = this.#front;
    this.#front = undefined;
    this.#address = undefined;
    if (!old) return;
    // The new proxy may need the same port: stop listening now, let open connections finish.
    old.proxy.stopAccepting();
    this.#retiring.add(old);
    void old.proxy.drain(Date.now() + 60_000).finally(() => {
      this.#retiring.delete(old);
      return closeFront(old);
    });
  }

  environment(): ProxyEnvironmentFacts | undefined {
    if (!this.#address || !this.#ca) return undefined;
    return { proxyUrl: this.#address.proxyUrl, pacUrl: this.#address.pacUrl, caCertPath: this.#ca.certPath, caBundlePath: this.#ca.bundlePath };
  }

  status(): InterceptionStatus {
    const config = this.#config;
    const stats = this.#front?.proxy.stats();
    const state: InterceptionStatus['state'] = this.#front ? 'running' : this.#lastError ? 'failed' : !config?.intercept ? 'off' : 'not_configured';
    const summary = {
      running: `proxy on ${this.#address?.proxyUrl ?? '?'} (PAC ${this.#address?.pacUrl ?? '?'}), ${stats?.activeConnections ?? 0} open connection(s)`,
      off: 'off (intercept = false)',
      not_configured: 'not started: no gateway_url configured',
      failed: `failed: ${this.#lastError ?? ''}`,
    }[state];
    return {
      state,
      summary,
      proxy_url: this.#address?.proxyUrl ?? null,
      pac_url: this.#address?.pacUrl ?? null,
      ca: { mode: config?.ca_mode ?? 'local', certificate_path: this.#ca?.certPath ?? null, bundle_path: this.#ca?.bundlePath ?? null, fingerprint_sha256: this.#ca?.fingerprint ?? null },
      active_connections: stats?.activeConnections ?? 0,
      exchanges: stats?.exchanges ?? [],
      last_error: this.#lastError ?? null,
    };
  }

  blockers(): Blocker[] {
    if (this.#lastError) return [{ reason: 'interception_off', message: `interception failed to start: ${this.#lastError}` }];
    return [];
  }

  stopAccepting(): void {
    this.#front?.proxy.stopAccepting();
  }

  inFlight(): number {
    return this.#fronts().reduce((n, f) => n + f.proxy.activeConnections(), 0);
  }

  async drain(deadline: number): Promise<void> {
    await Promise.all(this.#fronts().map((f) => f.proxy.drain(deadline)));
  }

  async close(): Promise<void> {
    await Promise.all(this.#fronts().map(closeFront));
    this.#front = undefined;
  }

  #fronts(): Front[] {
    return [...(this.#front ? [this.#front] : []), ...this.#retiring];
  }
}

async function closeFront(front: Front): Promise<void> {
  await front.proxy.close();
  front.forwarder.close();
}
