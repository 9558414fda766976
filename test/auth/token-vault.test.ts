// Tokens at rest: the AES-256-GCM vault, and the stores its key comes from. The file and
// systemd-creds stores run for real (systemd-creds where this machine has it, as root); the macOS
// keychain and Windows DPAPI stores are checked through their pure parts (argv and scripts: no key
// on a command line). The last test stores a real sign-in in a real SQLite store and greps the
// database, its WAL and the key files for the tokens.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AUTH_MIGRATIONS,
  dpapiProtectScript,
  dpapiUnprotectScript,
  FileVaultKey,
  hasSystemdCreds,
  powershellArgs,
  SystemdCredsVaultKey,
  systemdCredsDecryptArgs,
  systemdCredsEncryptArgs,
  TokenVault,
  UserTokens,
  VAULT_CREDENTIAL_FILE,
  VAULT_KEY_FILE,
  vaultKeychainAddScript,
  vaultKeychainFindArgs,
  vaultKeySourceFor,
} from '../../agent/src/auth/index.ts';
import { silentLogger } from '../../agent/src/lib/logger.ts';
import { Store } from '../../agent/src/store/index.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'heimdall-vault-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const KEY = Buffer.alloc(32, 7);

describe('TokenVault', () => {
  it('opens what it sealed, and only for the same owner and column', () => {
    const vault = new TokenVault(KEY);
    const sealed = vault.seal('eyJhbGciOi.secret-access-token', 'sso:alice:access_token');
    expect(sealed).not.toContain('secret-access-token');
    expect(vault.open(sealed, 'sso:alice:access_token')).toBe('eyJhbGciOi.secret-access-token');
    // A ciphertext copied into bob's row, or into another column, does not open.
    expect(() => vault.open(sealed, 'sso:bob:access_token')).toThrow(/does not open/);
    expect(() => vault.open(sealed, 'sso:alice:refresh_token')).toThrow(/does not open/);
  });

  it('refuses a tampered value and another key, naming the place and never the value', () => {
    const vault = new TokenVault(KEY);
    const sealed = vault.seal('hrt_refresh-value', 'sso:alice:refresh_token');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    const tampered = [...parts.slice(0, 3), body.toString('base64url')].join('.');
    expect(() => vault.open(tampered, 'sso:alice:refresh_token')).toThrow(/stored sso:alice:refresh_token does not open/);
    let message = '';
    try {
      new TokenVault(Buffer.alloc(32, 9)).open(sealed, 'sso:alice:refresh_token');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/another key, or tampered/);
    expect(message).not.toContain('hrt_');
    expect(() => new TokenVault(Buffer.alloc(16))).toThrow(/32 bytes, got 16/);
    expect(() => vault.open('v0.a.b.c', 'x')).toThrow(/not a sealed value/);
  });

  it('uses a fresh IV per value: the same token sealed twice differs', () => {
    const vault = new TokenVault(KEY);
    expect(vault.seal('same', 'c')).not.toBe(vault.seal('same', 'c'));
  });
});

describe('vault key stores', () => {
  it('file: makes one 32-byte key, 0600, the same for the next process; refuses a symlink', async () => {
    const dir = tempDir();
    const first = await new FileVaultKey(dir).loadOrCreate();
    expect(first).toHaveLength(32);
    expect(lstatSync(path.join(dir, VAULT_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect((await new FileVaultKey(dir).loadOrCreate()).equals(first)).toBe(true);
    const other = tempDir();
    writeFileSync(path.join(other, 'elsewhere'), `${first.toString('base64')}\n`);
    symlinkSync(path.join(other, 'elsewhere'), path.join(other, VAULT_KEY_FILE));
    await expect(new FileVaultKey(other).loadOrCreate()).rejects.toThrow(/symbolic link/);
    const bad = tempDir();
    writeFileSync(path.join(bad, VAULT_KEY_FILE), 'not a key\n');
    await expect(new FileVaultKey(bad).loadOrCreate()).rejects.toThrow(/does not hold a 32-byte base64 vault key/);
  });

  it('systemd-creds, macOS keychain, Windows DPAPI: the key never on a command line', () => {
    const key = KEY.toString('base64');
    for (const argv of [systemdCredsEncryptArgs('/var/lib/heimdall/vault-key.cred'), systemdCredsDecryptArgs('/var/lib/heimdall/vault-key.cred'), vaultKeychainFindArgs(), powershellArgs(dpapiProtectScript()), powershellArgs(dpapiUnprotectScript())]) {
      expect(argv.join(' ')).not.toContain(key);
    }
    expect(systemdCredsEncryptArgs('/s/vault-key.cred')).toEqual(['encrypt', '--name=heimdall-vault-key', '--with-key=auto', '-', '/s/vault-key.cred']);
    expect(systemdCredsDecryptArgs('/s/vault-key.cred')).toEqual(['decrypt', '--name=heimdall-vault-key', '/s/vault-key.cred', '-']);
    expect(vaultKeychainFindArgs()).toEqual(['find-generic-password', '-s', 'com.heimdall.agent.vault-key', '-a', 'tokens', '-w', '/Library/Keychains/System.keychain']);
    // The key goes to `security -i` on stdin.
    expect(vaultKeychainAddScript(key)).toBe(`add-generic-password -U -s com.heimdall.agent.vault-key -a tokens -l "Heimdall token vault key" -w ${key} /Library/Keychains/System.keychain\n`);
    expect(() => vaultKeychainAddScript('x; rm -rf /')).toThrow(/not 32 bytes of base64/);
    // DPAPI machine scope with Heimdall's entropy; the data is read from stdin.
    expect(dpapiProtectScript()).toContain('[System.Security.Cryptography.DataProtectionScope]::LocalMachine');
    expect(dpapiProtectScript()).toContain('[Console]::In.ReadLine()');
    const args = powershellArgs(dpapiUnprotectScript());
    expect(args.slice(0, 5)).toEqual(['-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand']);
    expect(Buffer.from(args[5]!, 'base64').toString('utf16le')).toBe(dpapiUnprotectScript());
  });

  it('chooses the OS key store for the machine-wide daemon and the file for development', () => {
    expect(vaultKeySourceFor({ platform: 'darwin', stateDir: '/x', machineWide: true }).kind).toBe('keychain');
    expect(vaultKeySourceFor({ platform: 'win32', stateDir: 'C:\\x', machineWide: true }).kind).toBe('dpapi');
    expect(vaultKeySourceFor({ platform: 'linux', stateDir: '/x', machineWide: true, systemdCreds: () => true }).kind).toBe('systemd-creds');
    expect(vaultKeySourceFor({ platform: 'linux', stateDir: '/x', machineWide: true, systemdCreds: () => false }).kind).toBe('file');
    expect(vaultKeySourceFor({ platform: 'darwin', stateDir: '/x', machineWide: false }).kind).toBe('file');
  });

  it.runIf(process.platform === 'linux' && process.getuid?.() === 0 && hasSystemdCreds())('systemd-creds: seals the key; the sealed file holds no key and opens to the same key', async () => {
    const dir = tempDir();
    const first = await new SystemdCredsVaultKey(dir).loadOrCreate();
    const sealed = readFileSync(path.join(dir, VAULT_CREDENTIAL_FILE));
    expect(lstatSync(path.join(dir, VAULT_CREDENTIAL_FILE)).mode & 0o777).toBe(0o600);
    expect(sealed.includes(first)).toBe(false);
    expect(sealed.toString('latin1')).not.toContain(first.toString('base64'));
    expect((await new SystemdCredsVaultKey(dir).loadOrCreate()).equals(first)).toBe(true);
    expect(readdirSync(dir)).toEqual([VAULT_CREDENTIAL_FILE]);
    // What systemd-creds itself opens is the key: it is sealed by the machine, not by us.
    expect(execFileSync('systemd-creds', ['decrypt', '--name=heimdall-vault-key', path.join(dir, VAULT_CREDENTIAL_FILE), '-'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()).toBe(first.toString('base64'));
  });
});

describe('UserTokens at rest', () => {
  it('keeps no token in clear in the database, its WAL or the key file; a restart opens them again', async () => {
    const dir = tempDir();
    const access = 'eyJhbGciOiJFZERTQSJ9.access-token-of-alice-0123456789';
    const refresh = 'hrt_refresh-token-of-alice-0123456789abcdef';
    const key = await new FileVaultKey(dir).loadOrCreate();
    const store = new Store({ stateDir: dir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
    const tokens = new UserTokens(store.db, new TokenVault(key));
    tokens.saveSignIn('alice', { id: 'u-1', email: 'alice@example.com', name: 'Alice' }, { accessToken: access, accessExpiresAt: Date.now() + 600_000, refreshToken: refresh });
    expect(tokens.access('alice')?.token).toBe(access);
    for (const f of readdirSync(dir)) {
      const bytes = readFileSync(path.join(dir, f));
      expect(bytes.includes(access), f).toBe(false);
      expect(bytes.includes(refresh), f).toBe(false);
      expect(bytes.includes('access-token-of-alice'), f).toBe(false);
    }
    store.close();
    const again = new Store({ stateDir: dir, logger: silentLogger(), migrations: [AUTH_MIGRATIONS] });
    const reopened = new UserTokens(again.db, new TokenVault(await new FileVaultKey(dir).loadOrCreate()));
    expect(reopened.access('alice')?.token).toBe(access);
    expect(reopened.refreshToken('alice')).toBe(refresh);
    // The state directory copied to a machine with another key opens nothing, and says what to run.
    const elsewhere = new UserTokens(again.db, new TokenVault(Buffer.alloc(32, 1)));
    expect(elsewhere.access('alice')).toBeUndefined();
    expect(elsewhere.signIn('alice')?.refreshError).toMatch(/does not open with this machine's vault key.*heimdall login/);
    again.close();
    expect(existsSync(path.join(dir, VAULT_KEY_FILE))).toBe(true);
  });
});
