// The auth room's tables: this device's identity and enrollment, the virtual key of each OS user
// signed in with one, and SSO sign-ins. The store file is 0600 in a 0700 root-only directory; virtual
// keys and SSO tokens are also sealed by the TokenVault (credentials.ts, user-tokens.ts), so a copy of
// the file alone opens nothing.
import type { MigrationSet } from '../store/index.ts';

export const AUTH_MIGRATIONS: MigrationSet = {
  component: 'auth',
  migrations: [
    {
      version: 1,
      name: 'device identity, enrollment and virtual keys per OS user',
      up: (db) => {
        // One row: the device id is created once and never changes; the token comes from enrollment.
        db.exec(`CREATE TABLE auth_device (
          singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
          device_id TEXT NOT NULL,
          created_at TEXT NOT NULL,
          device_token TEXT,
          control_url TEXT,
          connect_url TEXT,
          enrolled_at TEXT,
          revoked_at TEXT
        ) STRICT`);
        db.exec(`CREATE TABLE auth_users (
          os_user TEXT PRIMARY KEY,
          virtual_key TEXT NOT NULL,
          user_id TEXT,
          email TEXT,
          signed_in_at TEXT NOT NULL
        ) STRICT`);
      },
    },
    {
      version: 2,
      name: 'device tokens are short-lived: their expiry',
      up: (db) => {
        db.exec('ALTER TABLE auth_device ADD COLUMN token_expires_at TEXT');
      },
    },
    {
      version: 3,
      name: 'SSO sign-ins per OS user, their tokens sealed with the vault key',
      up: (db) => {
        // access_token and refresh_token hold only TokenVault ciphertexts (AES-256-GCM, the row's
        // OS user and column as additional data); refresh_error is a sentence without secrets.
        db.exec(`CREATE TABLE auth_sso_users (
          os_user TEXT PRIMARY KEY,
          user_id TEXT NOT NULL,
          email TEXT,
          name TEXT,
          access_token TEXT NOT NULL,
          access_expires_at TEXT NOT NULL,
          refresh_token TEXT NOT NULL,
          signed_in_at TEXT NOT NULL,
          refreshed_at TEXT,
          refresh_error TEXT,
          refresh_error_at TEXT
        ) STRICT`);
      },
    },
  ],
};
