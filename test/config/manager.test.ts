import { afterEach, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import {
  ConfigManager,
  flagsSource,
  macosManagedPreferencesSource,
  managedFileSource,
  type ConfigChange,
  type ConfigSource,
  type LastGoodCache,
} from '../../agent/src/config/index.ts';
import { createLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';

const fixtures = path.join(import.meta.dirname, '../fixtures/config');
const dirs: string[] = [];
const managers: ConfigManager[] = [];

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'heimdall-config-'));
  dirs.push(d);
  return d;
}

function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: () => { level: string; msg: string }[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return {
    logger: createLogger({ level: 'debug', destination }),
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string }),
  };
}

function memoryCache(): LastGoodCache & { saved: Map<string, Record<string, unknown>> } {
  const saved = new Map<string, Record<string, unknown>>();
  return { saved, load: (s) => saved.get(s), save: (s, v) => void saved.set(s, v) };
}

/** A source whose values the test sets directly: stands for the registry, which Linux lacks. */
function registryLike(values: Record<string, unknown> | undefined): ConfigSource {
  return {
    name: 'HKLM\\SOFTWARE\\Policies\\Heimdall',
    flavor: 'registry',
    watchPaths: [],
    pollIntervalMs: 0,
    read: () => Promise.resolve(values ? { status: 'ok', values } : { status: 'absent' }),
  };
}

function manager(sources: ConfigSource[], cache?: LastGoodCache, logger = capturingLogger().logger): ConfigManager {
  const m = new ConfigManager({ sources, logger, cache, debounceMs: 50 });
  managers.push(m);
  return m;
}

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('configuration precedence', () => {
  it('uses defaults when no source sets anything, and derives control_url and pac_port', async () => {
    const dir = tempDir();
    const resolved = await manager([managedFileSource(path.join(dir, 'missing.json')), flagsSource({})]).load();
    expect(resolved.config).toMatchObject({ proxy_port: 7420, pac_port: 7420, log_level: 'info', intercept: true, ca_mode: 'local', gateway_url: undefined });
    expect(resolved.origins.proxy_port).toBe('default');
    expect(resolved.problems).toEqual([]);
  });

  it('orders sources MDM plist > managed file > flags > defaults, key by key', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ gateway_url: 'https://file.example', proxy_port: 7600, support_url: 'https://file.example/help', log_level: 'warn' }));
    const plist = path.join(dir, 'io.heimdall.agent.plist');
    copyFileSync(path.join(fixtures, 'managed-preferences-xml.plist'), plist);
    const flags = flagsSource({ gatewayUrl: 'https://flag.example', organization: 'Flag Org', logLevel: 'trace', caMode: 'gateway' });
    const resolved = await manager([macosManagedPreferencesSource(plist), managedFileSource(file), flags]).load();
    expect(resolved.config).toMatchObject({
      gateway_url: 'https://ai-gateway.acme.example', // plist beats file and flags
      control_url: 'https://ai-gateway.acme.example', // derived from the winning gateway_url
      organization: 'Acme Corp', // plist beats flags
      proxy_port: 7500, // plist beats file
      support_url: 'https://file.example/help', // only the file sets it
      log_level: 'debug', // plist beats file and flags
      ca_mode: 'gateway', // only flags set it
      intercept: false,
    });
    expect(resolved.origins).toMatchObject({ gateway_url: plist, support_url: file, ca_mode: 'command-line flags', control_url: 'derived' });
  });

  it('puts the Windows policy registry above the managed file and coerces DWORD booleans', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ proxy_port: 7600, intercept: true, organization: 'File Org' }));
    const resolved = await manager([registryLike({ proxy_port: 7501, intercept: 0 }), managedFileSource(file)]).load();
    expect(resolved.config).toMatchObject({ proxy_port: 7501, intercept: false, organization: 'File Org' });
  });

  it('lets an explicit control_url differ from gateway_url', async () => {
    const flags = flagsSource({ gatewayUrl: 'https://gw.example/', controlUrl: 'wss://control.example' });
    const resolved = await manager([flags]).load();
    expect(resolved.config.gateway_url).toBe('https://gw.example');
    expect(resolved.config.control_url).toBe('wss://control.example');
  });
});

describe('bad values', () => {
  it('names the key, the source and the expected type for every kind of wrong value', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        proxy_port: '80a',
        pac_port: 70000,
        gateway_url: 'ftp://gw.example',
        support_url: 'not a url',
        intercept: 'yes',
        ca_mode: 'remote',
        log_level: 3,
        organization: { name: 'x' },
        gatway_url: 'https://typo.example',
      }),
    );
    const resolved = await manager([managedFileSource(file)]).load();
    const messages = resolved.problems.map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        `config key "proxy_port" in ${file}: expected an integer 1-65535, got "80a"; ignoring it`,
        `config key "pac_port" in ${file}: expected an integer 1-65535, got 70000; ignoring it`,
        `config key "gateway_url" in ${file}: expected a URL (https, http), got "ftp://gw.example"; ignoring it`,
        `config key "support_url" in ${file}: expected a URL (https, http, mailto), got "not a url"; ignoring it`,
        `config key "intercept" in ${file}: expected true or false, got "yes"; ignoring it`,
        `config key "ca_mode" in ${file}: expected one of "local", "gateway", got "remote"; ignoring it`,
        `config key "log_level" in ${file}: expected one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got 3; ignoring it`,
        `config key "organization" in ${file}: expected a string of at most 200 characters, got an object; ignoring it`,
        `config key "gatway_url" in ${file} is not a known setting; ignoring it (did you mean "gateway_url"?)`,
      ]),
    );
    expect(resolved.problems.find((p) => p.key === 'gatway_url')?.severity).toBe('warning');
    expect(resolved.problems.filter((p) => p.severity === 'error')).toHaveLength(8);
    expect(resolved.config).toMatchObject({ proxy_port: 7420, intercept: true, ca_mode: 'local' });
  });

  it('keeps the last good value of a key that turns bad, and says so', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ proxy_port: 7600, gateway_url: 'https://gw.example' }));
    const m = manager([managedFileSource(file)]);
    await m.load();
    writeFileSync(file, JSON.stringify({ proxy_port: '80a', gateway_url: 'https://gw2.example' }));
    const resolved = await m.load();
    expect(resolved.config.proxy_port).toBe(7600);
    expect(resolved.config.gateway_url).toBe('https://gw2.example');
    expect(resolved.problems.map((p) => p.message)).toContain(`config key "proxy_port" in ${file}: expected an integer 1-65535, got "80a"; keeping the last good value 7600`);
  });

  it('keeps running on the last good file when the file becomes malformed, even across a restart', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    const stateDir = path.join(dir, 'state');
    const { logger } = capturingLogger();
    writeFileSync(file, JSON.stringify({ proxy_port: 7600, organization: 'Acme' }));
    const store = new Store({ stateDir, logger });
    const cache: LastGoodCache = { load: (s) => store.loadConfigSource(s), save: (s, v) => store.saveConfigSource(s, v) };
    await manager([managedFileSource(file)], cache).load();
    store.close();

    writeFileSync(file, '{"proxy_port": 7700, "organization": "Acme"'); // half-written
    const reopened = new Store({ stateDir, logger });
    const cache2: LastGoodCache = { load: (s) => reopened.loadConfigSource(s), save: (s, v) => reopened.saveConfigSource(s, v) };
    const resolved = await manager([managedFileSource(file)], cache2).load();
    reopened.close();
    expect(resolved.config).toMatchObject({ proxy_port: 7600, organization: 'Acme' });
    expect(resolved.problems).toHaveLength(1);
    expect(resolved.problems[0]!.message).toMatch(new RegExp(`^cannot use ${file.replace(/[/.]/g, '\\$&')}: it is not valid JSON: .*; keeping its last good values$`));
  });

  it('reports a plist of wrong types key by key and still applies its good keys', async () => {
    const dir = tempDir();
    const plist = path.join(dir, 'io.heimdall.agent.plist');
    copyFileSync(path.join(fixtures, 'managed-preferences-bad-types.plist'), plist);
    const resolved = await manager([macosManagedPreferencesSource(plist)]).load();
    expect(resolved.config.gateway_url).toBe('https://ai-gateway.acme.example');
    expect(resolved.problems.map((p) => p.message)).toEqual(
      expect.arrayContaining([
        `config key "proxy_port" in ${plist}: expected an integer 1-65535, got "7500a"; ignoring it`,
        `config key "intercept" in ${plist}: expected true or false, got "yes"; ignoring it`,
        `config key "log_levl" in ${plist} is not a known setting; ignoring it (did you mean "log_level"?)`,
      ]),
    );
  });

  it('refuses an oversized managed file without reading it', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, `{"organization": "${'x'.repeat(2 * 1024 * 1024)}"}`);
    const resolved = await manager([managedFileSource(file)]).load();
    expect(resolved.problems[0]!.message).toMatch(/over the 1048576-byte limit for a config file; no earlier good values from it, using the other sources$/);
  });

  it('forgets a removed managed file instead of keeping its values', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ proxy_port: 7600 }));
    const cache = memoryCache();
    const m = manager([managedFileSource(file)], cache);
    await m.load();
    expect(cache.saved.get(file)).toEqual({ proxy_port: 7600 });
    rmSync(file);
    expect((await m.load()).config.proxy_port).toBe(7420);
    expect(cache.saved.get(file)).toEqual({});
  });
});

describe('live reload', () => {
  it('applies a changed managed file, including one replaced by rename, and reports the changed keys', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ proxy_port: 7600 }));
    const m = manager([managedFileSource(file)]);
    await m.load();
    m.watch();
    await m.ready();

    const changes: ConfigChange[] = [];
    m.on('change', (c) => changes.push(c));
    const next = (): Promise<ConfigChange> => new Promise((resolve) => m.once('change', resolve));

    let change = next();
    writeFileSync(file, JSON.stringify({ proxy_port: 7601, log_level: 'debug' }));
    expect((await change).changed.sort()).toEqual(['log_level', 'pac_port', 'proxy_port']);
    expect(m.current.proxy_port).toBe(7601);

    change = next();
    const tmp = path.join(dir, '.config.json.tmp');
    writeFileSync(tmp, JSON.stringify({ proxy_port: 7602, log_level: 'debug' }));
    renameSync(tmp, file); // how editors and MDM agents save
    expect((await change).config.proxy_port).toBe(7602);

    const reloaded = new Promise((resolve) => m.once('reloaded', resolve));
    writeFileSync(file, 'garbage');
    await reloaded;
    expect(m.current.proxy_port).toBe(7602);
    expect(changes).toHaveLength(2);
  });
});

describe('local_targets_allowed: a list key', () => {
  it('takes a JSON array, a registry multi-string and a comma-separated flag, each entry in one canonical spelling', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ local_targets_allowed: ['127.1:5432', '[0:0:0:0:0:0:0:1]:22', '169.254.169.254', '127.0.0.1:5432'] }));
    expect((await manager([managedFileSource(file)]).load()).config.local_targets_allowed).toEqual(['127.0.0.1:5432', '[::1]:22', '169.254.169.254']);
    expect((await manager([registryLike({ local_targets_allowed: ['0x7f000001:8080'] })]).load()).config.local_targets_allowed).toEqual(['127.0.0.1:8080']);
    expect((await manager([flagsSource({ localTargetsAllowed: '127.0.0.1:8080, [::1]' })]).load()).config.local_targets_allowed).toEqual(['127.0.0.1:8080', '[::1]']);
    expect((await manager([]).load()).config.local_targets_allowed).toEqual([]);
  });

  it('refuses the whole list when one entry is not an address, naming that entry, and keeps the last good list', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ local_targets_allowed: ['127.0.0.1:5432'] }));
    const m = manager([managedFileSource(file)]);
    await m.load();
    // A name could be re-pointed after the admin wrote it: only addresses are accepted.
    writeFileSync(file, JSON.stringify({ local_targets_allowed: ['127.0.0.1:6379', 'db.internal:5432'] }));
    const resolved = await m.load();
    expect(resolved.config.local_targets_allowed).toEqual(['127.0.0.1:5432']);
    expect(resolved.problems.map((p) => p.message)).toContain(
      `config key "local_targets_allowed" in ${file}: expected a list of at most 64 entries, each ADDRESS:PORT, [IPV6]:PORT or an address alone, got a list with the entry "db.internal:5432"; keeping the last good value ["127.0.0.1:5432"]`,
    );
    writeFileSync(file, JSON.stringify({ local_targets_allowed: '127.0.0.1:6379' }));
    expect((await m.load()).problems.map((p) => p.message)).toContain(
      `config key "local_targets_allowed" in ${file}: expected a list of at most 64 entries, each ADDRESS:PORT, [IPV6]:PORT or an address alone, got "127.0.0.1:6379"; keeping the last good value ["127.0.0.1:5432"]`,
    );
  });

  it('reports no change when a reload reads the same list again (the proxy is not restarted for nothing)', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ local_targets_allowed: ['127.0.0.1:5432'] }));
    const m = manager([managedFileSource(file)]);
    await m.load();
    const changes: ConfigChange[] = [];
    m.on('change', (c) => changes.push(c));
    await m.load();
    expect(changes).toEqual([]);
    writeFileSync(file, JSON.stringify({ local_targets_allowed: ['127.0.0.1:5433'] }));
    await m.load();
    expect(changes.map((c) => c.changed)).toEqual([['local_targets_allowed']]);
  });
});

describe('plain-text gateway and control URLs', () => {
  it('refuses http:// and ws:// to a host other than loopback for the URLs that receive credentials, and says why', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ gateway_url: 'http://ai-gw.acme.example', control_url: 'ws://10.1.2.3:8080', support_url: 'http://help.acme.example' }));
    const resolved = await manager([managedFileSource(file)]).load();
    const why = 'plain text to a host other than loopback: credentials would cross the network unencrypted; use https://';
    expect(resolved.problems.map((p) => p.message)).toEqual([
      `config key "gateway_url" in ${file}: expected a URL (https, http), got "http://ai-gw.acme.example" (${why}); ignoring it`,
      `config key "control_url" in ${file}: expected a URL (https, http, wss, ws), got "ws://10.1.2.3:8080" (${why}); ignoring it`,
    ]);
    expect(resolved.config.gateway_url).toBeUndefined();
    // A help page receives no credential: plain http stays allowed there.
    expect(resolved.config.support_url).toBe('http://help.acme.example');
  });

  it('accepts plain http to every loopback spelling (development and the demo)', async () => {
    for (const url of ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'http://127.1:8080']) {
      const resolved = await manager([flagsSource({ gatewayUrl: url })]).load();
      expect({ url, problems: resolved.problems }).toEqual({ url, problems: [] });
    }
  });
});
