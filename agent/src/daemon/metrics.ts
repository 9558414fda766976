// Prometheus metrics on loopback, off unless `metrics_port` is set. Labels are bounded: app ids from
// the catalog or hashed ids, providers and routes from the routing table, three outcomes.
// prom-client is loaded only when metrics are switched on (about 1 MB of heap a daemon without a
// metrics port never needs), so counting starts then.
import { createServer, type Server } from 'node:http';
import { isLoopbackHostHeader, loopbackHostRefusal } from '../lib/loopback-host.ts';
import type { Counter, Histogram, Registry } from 'prom-client';
import { boundedAppId } from '../forward/index.ts';
import type { ExchangeRecord } from '../intercept/index.ts';
import type { Logger } from '../lib/logger.ts';

export interface MetricsSources {
  activeConnections: () => number;
  outboxDepth: () => number;
  policyVersion: () => number | null;
  syncConnected: () => boolean;
}

interface Instruments {
  registry: Registry;
  exchanges: Counter<'app' | 'provider' | 'route' | 'decision'>;
  latency: Histogram<'provider' | 'route'>;
}

async function createInstruments(sources: MetricsSources): Promise<Instruments> {
  const { Counter, Gauge, Histogram, Registry } = await import('prom-client');
  const registry = new Registry();
  const exchanges = new Counter({
    name: 'heimdall_requests_total',
    help: 'Intercepted AI requests by app, provider, route and outcome (forwarded, blocked, error).',
    labelNames: ['app', 'provider', 'route', 'decision'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'heimdall_request_duration_seconds',
    help: 'Time from request to the end of the response, through the proxy.',
    labelNames: ['provider', 'route'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  gauge('heimdall_proxy_active_connections', 'Client connections open on the proxy.', sources.activeConnections);
  gauge('heimdall_outbox_depth', 'Events and inventory reports waiting for the gateway to acknowledge them.', sources.outboxDepth);
  gauge('heimdall_policy_version', 'Version of the policy being enforced (-1 when none was ever received).', () => sources.policyVersion() ?? -1);
  gauge('heimdall_sync_connected', '1 while the sync channel to the gateway is up.', () => (sources.syncConnected() ? 1 : 0));
  return { registry, exchanges, latency };
}

export class Metrics {
  readonly #sources: MetricsSources;
  /** Created the first time metrics are switched on, and kept (counts survive a port change). */
  #instruments: Instruments | undefined;
  #server: Server | undefined;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
  }

  observe(record: ExchangeRecord): void {
    const m = this.#instruments;
    if (!m) return;
    m.exchanges.inc({ app: boundedAppId(record.attribution.appId), provider: record.provider, route: record.routeId, decision: record.outcome });
    m.latency.observe({ provider: record.provider, route: record.routeId }, record.latencyMs / 1000);
  }

  /** Serves /metrics on 127.0.0.1:port only. */
  async listen(port: number, logger: Logger): Promise<void> {
    const { registry } = (this.#instruments ??= await createInstruments(this.#sources));
    const server = createServer((req, res) => {
      if (!isLoopbackHostHeader(req.headers.host, port)) {
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(`${loopbackHostRefusal('metrics', req.headers.host, port)}\n`);
        return;
      }
      if (req.method !== 'GET' || req.url !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('Heimdall metrics are at /metrics\n');
        return;
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => {
          logger.error({ err: (err as Error).message }, 'could not render metrics');
          res.writeHead(500).end();
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    logger.info({ url: `http://127.0.0.1:${port}/metrics` }, 'metrics listening');
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
