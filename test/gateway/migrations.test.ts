// The gateway database moving up a version on a real SQLite file: what an older gateway stored is
// kept and brought in line with what the new version records.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, silentLogger } from '../../lib/index.ts';
import { GATEWAY_MIGRATIONS } from '../../gateway/src/store/schema.ts';
import { createKey, enroll, newDeviceKey, startTestGateway } from './helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('gateway migrations', () => {
  it('version 2 attributes the agent events stored before it to the user whose OS user signed in', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-gw-migrate-'));
    dirs.push(dir);
    const open = (versions: number) => openDatabase({
      dir, fileName: 'gateway.db', logger: silentLogger(),
      migrations: [{ ...GATEWAY_MIGRATIONS, migrations: GATEWAY_MIGRATIONS.migrations.filter((m) => m.version <= versions) }],
    }).db;
    const v1 = open(1);
    const t = '2025-01-01T00:00:00.000Z';
    v1.prepare('INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)').run('usr_erin', 'erin@example.com', t);
    v1.prepare('INSERT INTO virtual_keys (id, user_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)').run('key_1', 'usr_erin', 'hash', 'sk-bf-1', t);
    v1.prepare("INSERT INTO devices (id, owner_user_id, hostname, os, enrolled_at) VALUES ('dev-1', 'usr_erin', 'h', 'linux', ?)").run(t);
    v1.prepare("INSERT INTO device_tokens (id, token_hash, device_id, os_user, user_id, key_id, created_at) VALUES ('tok', 'th', 'dev-1', 'erin', 'usr_erin', 'key_1', ?)").run(t);
    const event = v1.prepare("INSERT INTO events (source, device_id, stream, seq, type, at, app, os_user, user_id, attrs, received_at) VALUES ('agent', 'dev-1', 's', ?, 'request', ?, 'codex', ?, NULL, '{}', ?)");
    event.run(1, t, 'erin', t);
    event.run(2, t, 'root', t);
    event.run(3, t, null, t);
    v1.close();

    const v2 = open(2);
    const rows = v2.prepare<[], { seq: number; user_id: string | null }>('SELECT seq, user_id FROM events ORDER BY seq').all();
    expect(rows).toEqual([{ seq: 1, user_id: 'usr_erin' }, { seq: 2, user_id: null }, { seq: 3, user_id: null }]);
    v2.close();
  });

  it('version 3 keeps who is signed in on a device enrolled before device keys; only one of them binds its key', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'heimdall-gw-migrate-'));
    dirs.push(dir);
    const v2 = openDatabase({
      dir, fileName: 'gateway.db', logger: silentLogger(),
      migrations: [{ ...GATEWAY_MIGRATIONS, migrations: GATEWAY_MIGRATIONS.migrations.filter((m) => m.version <= 2) }],
    }).db;
    const t = '2025-01-01T00:00:00.000Z';
    v2.prepare('INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)').run('usr_erin', 'erin@example.com', t);
    v2.prepare('INSERT INTO virtual_keys (id, user_id, key_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)').run('key_1', 'usr_erin', 'hash', 'sk-bf-1', t);
    v2.prepare("INSERT INTO devices (id, owner_user_id, hostname, os, enrolled_at) VALUES ('dev-old', 'usr_erin', 'h', 'linux', ?)").run(t);
    const token = v2.prepare("INSERT INTO device_tokens (id, token_hash, device_id, os_user, user_id, key_id, created_at, revoked_at) VALUES (?, ?, 'dev-old', 'erin', 'usr_erin', 'key_1', ?, ?)");
    token.run('tok-old', 'th-old', t, t);
    token.run('tok-new', 'th-new', '2025-01-02T00:00:00.000Z', null);
    v2.close();

    const gw = await startTestGateway({ dataDir: dir });
    try {
      expect(await gw.store.deviceUsers('dev-old')).toMatchObject([{ osUser: 'erin', userId: 'usr_erin', keyId: 'key_1' }]);
      expect((await gw.store.getDevice('dev-old'))?.publicKey).toBeNull();
      // Someone not signed in there cannot claim the keyless device; erin (with a new key) binds hers.
      const mallory = await createKey(gw, 'mallory@example.com');
      expect((await enroll(gw, mallory.key, 'dev-old', 'mallory', newDeviceKey())).status).toBe(409);
      const erin = await gw.admin('POST', 'keys', { user_email: 'erin@example.com' });
      const key = newDeviceKey();
      expect((await enroll(gw, erin.body.key as string, 'dev-old', 'erin', key)).status).toBe(200);
      expect((await gw.store.getDevice('dev-old'))?.publicKey).toBe(key.publicKey);
    } finally {
      await gw.stop();
    }
  });
});
