// Virtual keys at rest: `heimdall login --virtual-key` leaves a long-lived secret in the store. It is
// sealed by the TokenVault (as the SSO tokens are), so a copy of the store file holds no usable key;
// a store from before sealing is sealed in place without losing a sign-in, and its clear bytes do not
// stay behind in the database or its WAL.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AUTH_MIGRATIONS, Credentials, TokenVault } from '../../agent/src/auth/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function openStore(stateDir?: string): { store: Store; stateDir: string } {
  const dir = stateDir ?? mkdtempSync(path.join(os.tmpdir(), 'heimdall-vk-'));
  if (!stateDir) dirs.push(dir);
  return { store: new Store({ stateDir: dir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] }), stateDir: dir };
}
/** Every byte the store's files hold (database, WAL, shared memory), as latin1 text to search. */
function storeBytes(stateDir: string): string {
  return readdirSync(stateDir)
    .map((f) => readFileSync(path.join(stateDir, f)).toString('latin1'))
    .join('\n');
}
const vaultA = new TokenVault(Buffer.alloc(32, 1));
const vaultB = new TokenVault(Buffer.alloc(32, 2));
const KEY = 'sk-bf-alice-0123456789abcdef';
const enrollment = (osUser: string, virtualKey: string) => ({ deviceToken: 'device-token', controlUrl: 'https://gw.example', osUser, virtualKey, userId: 'u-1', email: `${osUser}@example.com` });

describe('virtual keys in the agent store', () => {
  it('rest sealed: the store files never hold the key, and the daemon reads it back', () => {
    const { store, stateDir } = openStore();
    const credentials = new Credentials(store.db, vaultA);
    credentials.saveEnrollment(enrollment('alice', KEY));
    expect((store.db.prepare('SELECT virtual_key FROM auth_users').get() as { virtual_key: string }).virtual_key).toMatch(/^v1\./);
    expect(new Credentials(store.db, vaultA).virtualKeyFor('alice')).toBe(KEY);
    store.close();
    expect(storeBytes(stateDir)).not.toContain(KEY);
  });

  it('does not open under another machine\'s vault key, nor moved to another OS user\'s row: that user is not signed in', () => {
    const { store } = openStore();
    new Credentials(store.db, vaultA).saveEnrollment(enrollment('alice', KEY));
    const elsewhere = new Credentials(store.db, vaultB);
    expect(elsewhere.virtualKeyFor('alice')).toBeUndefined();
    expect(elsewhere.signedInUsers()).toEqual([]);
    // bob copies alice's sealed key into his own row.
    store.db.prepare("INSERT INTO auth_users (os_user, virtual_key, signed_in_at) SELECT 'bob', virtual_key, signed_in_at FROM auth_users WHERE os_user = 'alice'").run();
    const here = new Credentials(store.db, vaultA);
    expect(here.virtualKeyFor('bob')).toBeUndefined();
    expect(here.signedInUsers().map((u) => u.osUser)).toEqual(['alice']);
    store.close();
  });

  it('seals the keys of a store from before sealing, keeping every sign-in and leaving no clear bytes behind', () => {
    const { store, stateDir } = openStore();
    // What the previous release wrote: the key itself.
    store.db.prepare("INSERT INTO auth_users (os_user, virtual_key, user_id, email, signed_in_at) VALUES ('alice', ?, 'u-1', 'alice@example.com', '2026-01-01T00:00:00.000Z')").run(KEY);
    store.close();
    expect(storeBytes(stateDir)).toContain(KEY);

    const reopened = openStore(stateDir).store;
    const credentials = new Credentials(reopened.db, vaultA);
    // Usable before sealing (a daemon whose vault key could not be loaded does not seal)...
    expect(credentials.virtualKeyFor('alice')).toBe(KEY);
    credentials.sealPlainKeys();
    expect((reopened.db.prepare('SELECT virtual_key FROM auth_users').get() as { virtual_key: string }).virtual_key).toMatch(/^v1\./);
    // ...and after, through a fresh reader.
    expect(new Credentials(reopened.db, vaultA).virtualKeyFor('alice')).toBe(KEY);
    expect(new Credentials(reopened.db, vaultA).signedInUsers()).toMatchObject([{ osUser: 'alice', email: 'alice@example.com' }]);
    reopened.close();
    expect(storeBytes(stateDir)).not.toContain(KEY);
  });
});
