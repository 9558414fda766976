// Merges the configuration sources in precedence order (MDM, managed file, flags, defaults) into one
// validated config, keeps the last good values of every source (in memory and in the store, so a
// broken file at boot still runs on what last worked), and re-applies live when a source changes.
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../lib/logger.ts';
import { CONFIG_KEY_NAMES, defaultConfig, type ConfigKey, type HeimdallConfig } from './keys.ts';
import type { ConfigSource } from './sources/source.ts';
import { validateSource, type ConfigProblem, type PartialConfig } from './validate.ts';

/** Persists each source's last good values; the store implements it. */
export interface LastGoodCache {
  load(source: string): Record<string, unknown> | undefined;
  save(source: string, values: Record<string, unknown>): void;
}

export type ConfigOrigin = string; // a source name, "default" or "derived"

export interface ResolvedConfig {
  config: HeimdallConfig;
  origins: Record<ConfigKey, ConfigOrigin>;
  problems: ConfigProblem[];
}

export interface ConfigManagerOptions {
  /** Highest precedence first. */
  sources: readonly ConfigSource[];
  logger: Logger;
  cache?: LastGoodCache;
  /** Quiet time after a file event before re-reading (editors write in several steps). */
  debounceMs?: number;
}

export interface ConfigChange {
  config: HeimdallConfig;
  previous: HeimdallConfig;
  changed: ConfigKey[];
}

function sameValues(a: PartialConfig | undefined, b: PartialConfig): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b);
}

export class ConfigManager extends EventEmitter<{ change: [ConfigChange]; reloaded: [ResolvedConfig] }> {
  readonly #sources: readonly ConfigSource[];
  readonly #logger: Logger;
  readonly #cache: LastGoodCache | undefined;
  readonly #debounceMs: number;
  readonly #lastGood = new Map<string, PartialConfig>();
  #resolved: ResolvedConfig | undefined;
  #watchers: FSWatcher[] = [];
  #timers: NodeJS.Timeout[] = [];
  #debounce: NodeJS.Timeout | undefined;
  #reloading: Promise<ResolvedConfig> | undefined;
  #pendingReload = false;

  constructor(options: ConfigManagerOptions) {
    super();
    this.#sources = options.sources;
    this.#logger = options.logger;
    this.#cache = options.cache;
    this.#debounceMs = options.debounceMs ?? 200;
    for (const source of this.#sources) {
      const cached = this.#cache?.load(source.name);
      if (cached) this.#lastGood.set(source.name, cached);
    }
  }

  /** The config in force; load() must have run. */
  get current(): HeimdallConfig {
    if (!this.#resolved) throw new Error('configuration not loaded yet');
    return this.#resolved.config;
  }

  get resolved(): ResolvedConfig {
    if (!this.#resolved) throw new Error('configuration not loaded yet');
    return this.#resolved;
  }

  /** Reads every source and applies the result; concurrent calls share one read. */
  async load(): Promise<ResolvedConfig> {
    if (this.#reloading) {
      this.#pendingReload = true;
      return this.#reloading;
    }
    this.#reloading = this.#readAll().finally(() => {
      this.#reloading = undefined;
    });
    const resolved = await this.#reloading;
    if (this.#pendingReload) {
      this.#pendingReload = false;
      return this.load();
    }
    return resolved;
  }

  async #readAll(): Promise<ResolvedConfig> {
    const problems: ConfigProblem[] = [];
    const layers: { source: ConfigSource; values: PartialConfig }[] = [];
    for (const source of this.#sources) {
      layers.push({ source, values: await this.#readSource(source, problems) });
    }
    const config = defaultConfig();
    const origins = Object.fromEntries(CONFIG_KEY_NAMES.map((k) => [k, 'default'])) as Record<ConfigKey, ConfigOrigin>;
    for (const layer of [...layers].reverse()) {
      for (const [key, value] of Object.entries(layer.values) as [ConfigKey, unknown][]) {
        (config as unknown as Record<string, unknown>)[key] = value;
        origins[key] = layer.source.name;
      }
    }
    if (config.control_url === undefined && config.gateway_url !== undefined) {
      config.control_url = config.gateway_url;
      origins.control_url = 'derived';
    }
    if (config.pac_port === undefined) {
      config.pac_port = config.proxy_port;
      origins.pac_port = 'derived';
    }
    const resolved: ResolvedConfig = { config, origins, problems };
    const previous = this.#resolved?.config;
    this.#resolved = resolved;
    for (const p of problems) this.#logger[p.severity === 'error' ? 'error' : 'warn']({ source: p.source, key: p.key }, p.message);
    this.emit('reloaded', resolved);
    if (previous) {
      const changed = CONFIG_KEY_NAMES.filter((k) => !sameValue(previous[k], config[k]));
      if (changed.length > 0) {
        this.#logger.info({ changed }, 'configuration changed; applying it');
        this.emit('change', { config, previous, changed });
      }
    }
    return resolved;
  }

  async #readSource(source: ConfigSource, problems: ConfigProblem[]): Promise<PartialConfig> {
    let read;
    try {
      read = await source.read();
    } catch (err) {
      read = { status: 'unreadable' as const, reason: (err as Error).message };
    }
    const lastGood = this.#lastGood.get(source.name);
    if (read.status === 'absent') {
      // An admin removing the managed file is a decision, not an accident: forget its values.
      if (lastGood) this.#remember(source.name, {});
      return {};
    }
    if (read.status === 'unreadable') {
      problems.push({
        severity: 'error',
        source: source.name,
        message: `cannot use ${source.name}: ${read.reason}; ${lastGood ? 'keeping its last good values' : 'no earlier good values from it, using the other sources'}`,
      });
      return lastGood ?? {};
    }
    const validated = validateSource(source.name, read.values, source.flavor, (name) => source.ignoredKey?.(name) ?? false);
    const values: Record<string, unknown> = { ...validated.values };
    for (const problem of validated.problems) {
      if (problem.severity === 'error' && problem.key !== undefined) {
        const kept = lastGood?.[problem.key as ConfigKey];
        if (kept !== undefined) {
          values[problem.key] = kept;
          problem.message += `; keeping the last good value ${JSON.stringify(kept)}`;
        } else {
          problem.message += '; ignoring it';
        }
      }
      problems.push(problem);
    }
    this.#remember(source.name, values);
    return values;
  }

  #remember(source: string, values: PartialConfig): void {
    if (sameValues(this.#lastGood.get(source), values)) return;
    this.#lastGood.set(source, values);
    try {
      this.#cache?.save(source, values);
    } catch (err) {
      this.#logger.warn({ source, err: (err as Error).message }, 'could not persist the last good configuration; it stays in memory');
    }
  }

  /** Starts watching file sources (their directories, since editors and MDM agents replace files by rename). */
  watch(): void {
    const schedule = (): void => {
      clearTimeout(this.#debounce);
      this.#debounce = setTimeout(() => {
        this.load().catch((err: unknown) => this.#logger.error({ err: (err as Error).message }, 'configuration reload failed'));
      }, this.#debounceMs);
    };
    for (const source of this.#sources) {
      for (const file of source.watchPaths) {
        const watcher = watch(path.dirname(file), { depth: 0, ignoreInitial: true, usePolling: false });
        const wanted = path.resolve(file);
        watcher.on('all', (_event, changed) => {
          if (path.resolve(changed) === wanted) schedule();
        });
        watcher.on('error', (err) => this.#logger.warn({ source: source.name, err: (err as Error).message }, 'config watcher error'));
        this.#watchers.push(watcher);
      }
      if (source.pollIntervalMs > 0) {
        const timer = setInterval(schedule, source.pollIntervalMs);
        timer.unref();
        this.#timers.push(timer);
      }
    }
  }

  /** Resolves once every watcher is ready (tests and start-up use it before changing files). */
  async ready(): Promise<void> {
    await Promise.all(this.#watchers.map((w) => new Promise<void>((resolve) => w.once('ready', () => resolve()))));
  }

  async close(): Promise<void> {
    clearTimeout(this.#debounce);
    for (const t of this.#timers) clearInterval(t);
    await Promise.all(this.#watchers.map((w) => w.close()));
    this.#watchers = [];
  }
}

// List keys arrive as a new array on every read: compare them by entries, or every reload would look
// like a change and restart the proxy.
function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}
