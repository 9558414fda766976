// The daemon's main: builds every room, hands each its dependencies, and runs until told to stop.
import type { Writable } from 'node:stream';
import { ConfigManager, platformSources, type HeimdallConfig } from '../config/index.ts';
import { createLogger, type Logger, type LogLevel } from '../lib/logger.ts';
import { currentPlatform, resolvePaths, type PlatformPaths } from '../lib/platform.ts';
import { AGENT_VERSION } from '../lib/version.ts';
import { LocalApi, linuxCallerResolver, unknownCallerResolver, type LocalRoute } from '../localapi/index.ts';
import { Store } from '../store/index.ts';
import { Lifecycle } from './lifecycle.ts';
import { configBlockers, type DaemonStatus, type StatusSection } from './status.ts';

export interface DaemonOptions {
  /** Development: run unprivileged with state (and the local API socket) in this directory. */
  stateDir?: string;
  /** Development: read this managed file instead of the platform's. */
  configFile?: string;
  /** Development flags, lowest precedence (commander's parsed options). */
  flags?: Record<string, unknown>;
  /** How long in-flight work may take to finish after SIGTERM. */
  graceMs?: number;
  logDestination?: Writable;
}

export interface RunningDaemon {
  readonly paths: PlatformPaths;
  readonly logger: Logger;
  readonly lifecycle: Lifecycle;
  readonly config: ConfigManager;
  readonly store: Store;
  status(): DaemonStatus;
  stop(reason: string): Promise<void>;
}

export async function startDaemon(options: DaemonOptions = {}): Promise<RunningDaemon> {
  const platform = currentPlatform();
  const paths = resolvePaths({ platform, ...(options.stateDir ? { stateDir: options.stateDir } : {}) });
  const managedFile = options.configFile ?? paths.managedConfigFile;
  const flags = options.flags ?? {};
  const initialLevel = (typeof flags['logLevel'] === 'string' ? flags['logLevel'] : 'info') as LogLevel;
  const logger = createLogger({ level: initialLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const startedAt = new Date();
  const lifecycle = new Lifecycle({ logger, graceMs: options.graceMs ?? 10_000 });

  const store = new Store({ stateDir: paths.stateDir, logger });
  lifecycle.add({ name: 'store', close: () => store.close() });

  const config = new ConfigManager({
    sources: platformSources({ platform, managedFile, flags }),
    logger,
    cache: { load: (s) => store.loadConfigSource(s), save: (s, v) => store.saveConfigSource(s, v) },
  });
  const resolved = await config.load();
  logger.level = resolved.config.log_level;
  config.on('change', ({ config: next }: { config: HeimdallConfig }) => {
    logger.level = next.log_level;
  });
  config.watch();
  lifecycle.add({ name: 'config', close: () => config.close() });

  const sections: StatusSection[] = [
    { name: 'store', collect: () => ({ file: store.file, schema: store.schemaVersions(), moved_aside: store.movedAside ?? null }) },
  ];

  const status = (): DaemonStatus => {
    const { config: values, origins, problems } = config.resolved;
    const blockers = [...configBlockers(values, managedFile), ...sections.flatMap((s) => s.blockers?.() ?? [])];
    return {
      agent: {
        version: AGENT_VERSION,
        pid: process.pid,
        started_at: startedAt.toISOString(),
        uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
        platform: `${process.platform}-${process.arch}`,
        node: process.version,
      },
      state_dir: paths.stateDir,
      governed: blockers.length === 0,
      blockers,
      config: { values, origins, problems },
      sections: Object.fromEntries(sections.map((s) => [s.name, s.collect()])),
    };
  };

  const routes: LocalRoute[] = [{ method: 'GET', path: '/v1/status', handle: () => ({ status: 200, body: status() }) }];
  const localApi = new LocalApi({
    socketPath: paths.localApiSocket,
    routes,
    resolveCaller: platform === 'linux' ? linuxCallerResolver : unknownCallerResolver,
    logger,
  });
  await localApi.listen();
  lifecycle.add({ name: 'localapi', stopAccepting: () => localApi.stopAccepting(), close: () => localApi.close() });

  logger.info({ version: AGENT_VERSION, state_dir: paths.stateDir, socket: paths.localApiSocket, managed_file: managedFile }, 'heimdall daemon started');
  return { paths, logger, lifecycle, config, store, status, stop: (reason) => lifecycle.shutdown(reason) };
}
