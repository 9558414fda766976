// The local accounts whose homes are inventoried. The pure parsers (passwd, dscl output) are
// separate from the part that reads the system, so they are tested on recorded output.
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { OsUser, Platform } from './types.ts';

const NO_LOGIN_HOMES = new Set(['/', '/nonexistent', '/dev/null', '/var/empty']);
const FIRST_HUMAN_UID_LINUX = 1000;
const FIRST_HUMAN_UID_DARWIN = 500;
const NOBODY_UIDS = new Set([65534, 4294967294, 4294967295]);

/** Human accounts (uid >= 1000, not nobody) plus root, from /etc/passwd text. */
export function parsePasswd(text: string): OsUser[] {
  const users: OsUser[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    const home = f[5] ?? '';
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    if (uid !== 0 && (uid < FIRST_HUMAN_UID_LINUX || NOBODY_UIDS.has(uid))) continue;
    if (!path.isAbsolute(home) || NO_LOGIN_HOMES.has(home)) continue;
    users.push({ name: f[0]!, uid, gid, home });
  }
  return users;
}

/**
 * Users from `dscl . -readall /Users UniqueID PrimaryGroupID NFSHomeDirectory` output: records
 * separated by `-` lines; system accounts (uid < 500, names starting with `_`) skipped, root kept.
 */
export function parseDsclUsers(text: string): OsUser[] {
  const users: OsUser[] = [];
  for (const record of text.split(/^-\s*$/m)) {
    const field = (key: string): string | undefined => {
      const m = new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(record);
      if (!m) return undefined;
      const inline = m[1]!.trim();
      if (inline) return inline;
      // Long values continue on the next line, indented.
      const rest = record.slice(m.index + m[0].length).split('\n').find((l) => l.trim());
      return rest?.trim();
    };
    const name = field('RecordName')?.split(/\s+/)[0];
    const uid = Number(field('UniqueID'));
    const gid = Number(field('PrimaryGroupID'));
    const home = field('NFSHomeDirectory');
    if (!name || !home || !Number.isInteger(uid)) continue;
    if (uid !== 0 && (uid < FIRST_HUMAN_UID_DARWIN || name.startsWith('_') || NOBODY_UIDS.has(uid))) continue;
    if (!path.isAbsolute(home) || NO_LOGIN_HOMES.has(home)) continue;
    users.push({ name, uid, gid: Number.isInteger(gid) ? gid : -1, home });
  }
  return users;
}

const WINDOWS_NOT_USERS = new Set(['public', 'default', 'default user', 'all users', 'defaultapppool', 'desktop.ini']);

export function filterWindowsProfileNames(names: readonly string[]): string[] {
  return names.filter((n) => !WINDOWS_NOT_USERS.has(n.toLowerCase()));
}

export const PROFILE_LIST_KEY = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';

/**
 * Profile folder (lower-cased) -> account SID, from `reg query <ProfileList> /s /v ProfileImagePath`
 * output. The userfs helper is started with the token of that SID's logon session, so the folder
 * name (which Windows may suffix, `dana.CORP`) is never taken for the account.
 */
export function parseProfileList(text: string, systemDrive = 'C:'): Map<string, string> {
  const homes = new Map<string, string>();
  let sid: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const key = /^HKEY_LOCAL_MACHINE\\.*\\ProfileList\\(S-1-5-21-[\d-]+)$/i.exec(line.trim());
    if (key) {
      sid = key[1];
      continue;
    }
    if (/^HKEY_/i.test(line.trim())) sid = undefined;
    const value = /^\s+ProfileImagePath\s+REG_(?:EXPAND_)?SZ\s+(.+?)\s*$/.exec(line);
    if (value && sid) homes.set(value[1]!.replace(/%SystemDrive%/gi, systemDrive).toLowerCase(), sid);
  }
  return homes;
}

async function profileSids(): Promise<Map<string, string>> {
  try {
    const { stdout } = await promisify(execFile)('reg', ['query', PROFILE_LIST_KEY, '/s', '/v', 'ProfileImagePath'], { maxBuffer: 4 * 1024 * 1024, timeout: 10_000 });
    return parseProfileList(stdout, process.env['SystemDrive'] ?? 'C:');
  } catch {
    return new Map(); // no SIDs: userfs refuses file work for other users rather than guess
  }
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function keepRealHomes(users: OsUser[]): Promise<OsUser[]> {
  const seen = new Set<string>();
  const out: OsUser[] = [];
  for (const u of users) {
    if (seen.has(u.home) || !(await isDirectory(u.home))) continue;
    seen.add(u.home);
    out.push(u);
  }
  return out;
}

export interface UserEnumerationOptions {
  platform: Platform;
  /** Root/SYSTEM: every local user; otherwise only the current user. */
  allUsers: boolean;
  /** For tests: the passwd file to read on Linux. */
  passwdFile?: string;
  /** For tests and Windows: the folder holding profiles (`C:\Users`). */
  usersDir?: string;
}

/**
 * The user this process runs as. The home is `os.homedir()` ($HOME, %USERPROFILE%), not the passwd
 * entry: it is where this user's apps read and write their MCP configs, and a development daemon
 * started with another HOME must watch the same files those apps use.
 */
export function currentUser(): OsUser {
  const info = os.userInfo();
  return { name: info.username, uid: info.uid, gid: info.gid, home: os.homedir() };
}

export async function listLocalUsers(options: UserEnumerationOptions): Promise<OsUser[]> {
  if (!options.allUsers) return [currentUser()];
  switch (options.platform) {
    case 'linux':
      return keepRealHomes(parsePasswd(await readFile(options.passwdFile ?? '/etc/passwd', 'utf8')));
    case 'darwin': {
      const { stdout } = await promisify(execFile)('/usr/bin/dscl', ['.', '-readall', '/Users', 'RecordName', 'UniqueID', 'PrimaryGroupID', 'NFSHomeDirectory'], {
        maxBuffer: 16 * 1024 * 1024,
      });
      return keepRealHomes(parseDsclUsers(stdout));
    }
    case 'win32': {
      const dir = options.usersDir ?? path.join(process.env.SystemDrive ?? 'C:', '\\Users');
      const names = filterWindowsProfileNames(await readdir(dir));
      const sids = await profileSids();
      return keepRealHomes(
        names.map((name) => {
          const home = path.join(dir, name);
          const sid = sids.get(home.toLowerCase());
          return { name, uid: -1, gid: -1, home, ...(sid ? { sid } : {}) };
        }),
      );
    }
  }
}
