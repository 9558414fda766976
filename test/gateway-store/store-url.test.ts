// The gateway config's `store_url`: PostgreSQL is chosen only when it is set, and a password never
// comes from the file (PGPASSWORD, ~/.pgpass or an `env.NAME` reference carry it).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_EVENTS_RETENTION_DAYS, loadGatewayConfig } from '../../gateway/src/config.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configFile(content: unknown): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'heimdall-gw-config-'));
  dirs.push(dir);
  const file = path.join(dir, 'gateway.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

describe('store_url', () => {
  it('keeps the embedded SQLite store when unset', () => {
    expect(loadGatewayConfig(configFile({}), {}).store).toBeUndefined();
  });

  it('takes a postgres URL without a password, leaving the password to PGPASSWORD or ~/.pgpass', () => {
    expect(loadGatewayConfig(configFile({ store_url: 'postgres://heimdall@db.internal:5432/heimdall' }), {}).store).toEqual({
      url: 'postgres://heimdall@db.internal:5432/heimdall',
      password: undefined,
    });
  });

  it('refuses a URL carrying a password, naming the key and never repeating the password', () => {
    for (const url of ['postgres://heimdall:hunter2@db.internal/heimdall', 'postgresql://heimdall@db.internal/heimdall?password=hunter2']) {
      let message = '';
      try {
        loadGatewayConfig(configFile({ store_url: url }), {});
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/key `store_url`: contains a password, which never goes in the config file; .*PGPASSWORD/);
      expect(message).not.toContain('hunter2');
    }
  });

  it('refuses other schemes and garbage with the key named', () => {
    expect(() => loadGatewayConfig(configFile({ store_url: 'mysql://db/heimdall' }), {})).toThrow(/key `store_url`: expected a postgres:\/\/ or postgresql:\/\/ URL, got a mysql: one/);
    expect(() => loadGatewayConfig(configFile({ store_url: 'db.internal' }), {})).toThrow(/key `store_url`: not a URL/);
  });

  it('resolves store_password only as an env.NAME reference that is set', () => {
    const file = configFile({ store_url: 'postgres://heimdall@db/heimdall', store_password: 'env.HEIMDALL_DB_PASSWORD' });
    expect(loadGatewayConfig(file, { HEIMDALL_DB_PASSWORD: 's3cret' }).store?.password).toBe('s3cret');
    expect(() => loadGatewayConfig(file, {})).toThrow(/key `store_password`: environment variable HEIMDALL_DB_PASSWORD is not set/);
    let literal = '';
    try {
      loadGatewayConfig(configFile({ store_url: 'postgres://heimdall@db/heimdall', store_password: 'hunter2' }), {});
    } catch (err) {
      literal = (err as Error).message;
    }
    expect(literal).toMatch(/key `store_password`: expected a reference to an environment variable/);
    expect(literal).not.toContain('hunter2');
    expect(() => loadGatewayConfig(configFile({ store_password: 'env.X' }), { X: 'y' })).toThrow(/key `store_password`: set only with `store_url`/);
  });
});

describe('events_retention_days', () => {
  it('defaults to 90 days and accepts a whole number of days from 1', () => {
    expect(loadGatewayConfig(configFile({}), {}).eventsRetentionDays).toBe(DEFAULT_EVENTS_RETENTION_DAYS);
    expect(DEFAULT_EVENTS_RETENTION_DAYS).toBe(90);
    expect(loadGatewayConfig(configFile({ events_retention_days: 30 }), {}).eventsRetentionDays).toBe(30);
    expect(() => loadGatewayConfig(configFile({ events_retention_days: 0 }), {})).toThrow(/key `events_retention_days`: accepted: a whole number from 1 to 36500/);
  });
});
