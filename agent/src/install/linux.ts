// Linux: the plan (pure, from facts) and the facts it needs (read from a root directory, `/` or a
// test's temporary root given with --root).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { claudeCodeManagedEnv, environmentD, shellProfile } from './environment.ts';
import { LINUX_EXECUTABLE, LINUX_UNIT_NAME, systemdUnit, xdgAutostartEntry } from './service-definitions.ts';
import type { Change, CommandChange, InstallPlan, ProxyFacts, Refresh } from './types.ts';

/** A distribution's anchor folder for extra trusted roots and the command that rebuilds its bundle. */
export interface LinuxTrustStore {
  name: string;
  anchorDir: string;
  fileName: string;
  refresh: readonly string[];
  /** Rebuild after the anchor was removed (Debian's tool keeps the removed CA's links without --fresh). */
  refreshAfterRemoval: readonly string[];
  bundle: string;
}

// Checked in order; the first whose anchor folder exists is this distribution's.
export const LINUX_TRUST_STORES: readonly LinuxTrustStore[] = [
  { name: 'fedora/rhel', anchorDir: '/etc/pki/ca-trust/source/anchors', fileName: 'heimdall-local-ca.pem', refresh: ['update-ca-trust', 'extract'], refreshAfterRemoval: ['update-ca-trust', 'extract'], bundle: '/etc/pki/tls/certs/ca-bundle.crt' },
  { name: 'opensuse', anchorDir: '/etc/pki/trust/anchors', fileName: 'heimdall-local-ca.pem', refresh: ['update-ca-certificates'], refreshAfterRemoval: ['update-ca-certificates', '--fresh'], bundle: '/etc/ssl/ca-bundle.pem' },
  { name: 'debian/ubuntu', anchorDir: '/usr/local/share/ca-certificates', fileName: 'heimdall-local-ca.crt', refresh: ['update-ca-certificates'], refreshAfterRemoval: ['update-ca-certificates', '--fresh'], bundle: '/etc/ssl/certs/ca-certificates.crt' },
];

export const NSS_NICKNAME = 'Heimdall local CA';
export const PUBLIC_DIR = '/var/run/heimdall';
const PACKAGED_UNIT_DIRS = ['/lib/systemd/system', '/usr/lib/systemd/system'];
const AUTOSTART_FILE = '/etc/xdg/autostart/heimdall-helper.desktop';

export interface LinuxFacts {
  /** `/`, or the root directory every path is taken under. */
  root: string;
  /** The CA to trust (PEM), or undefined when the gateway holds it (ca_mode gateway). */
  caPem: string | undefined;
  /** The CA certificate file certutil reads (the state dir's copy, a host path). */
  caFile: string;
  proxyUrl: string;
  pacUrl: string;
  trustStore: LinuxTrustStore | undefined;
  /** NSS databases (Chromium ~/.pki/nssdb, Firefox profiles), as `sql:` directories under root. */
  nssDatabases: string[];
  hasDconf: boolean;
  dconfProfileExists: boolean;
  /** A package already ships the unit / the autostart entry. */
  packagedUnit: boolean;
  packagedAutostart: boolean;
}

function under(root: string, target: string): string {
  return root === '/' ? target : path.join(root, target);
}

/** Where the environment points tools: the system bundle (which holds the CA once trusted) survives a stopped daemon. */
export function linuxProxyFacts(facts: Pick<LinuxFacts, 'proxyUrl' | 'pacUrl' | 'trustStore'>): ProxyFacts {
  const store = facts.trustStore;
  return {
    proxyUrl: facts.proxyUrl,
    pacUrl: facts.pacUrl,
    caCertPath: store ? path.posix.join(store.anchorDir, store.fileName) : `${PUBLIC_DIR}/ca.pem`,
    caBundlePath: store ? store.bundle : `${PUBLIC_DIR}/ca-bundle.pem`,
  };
}

export function planLinux(facts: LinuxFacts): InstallPlan {
  const r = (p: string): string => under(facts.root, p);
  const changes: Change[] = [];
  const refreshes: Refresh[] = [];
  const services: CommandChange[] = [];
  const notes: string[] = [];
  const proxy = linuxProxyFacts(facts);

  if (!facts.packagedUnit) {
    changes.push({ kind: 'file', path: r(`/etc/systemd/system/${LINUX_UNIT_NAME}`), content: systemdUnit(LINUX_EXECUTABLE), mode: 0o644, why: 'the service definition (no package shipped one)' });
  }
  const unitPath = facts.packagedUnit ? PACKAGED_UNIT_DIRS.map((d) => `${d}/${LINUX_UNIT_NAME}`).find((p) => existsSync(r(p))) ?? `/lib/systemd/system/${LINUX_UNIT_NAME}` : `/etc/systemd/system/${LINUX_UNIT_NAME}`;
  changes.push({ kind: 'symlink', path: r(`/etc/systemd/system/multi-user.target.wants/${LINUX_UNIT_NAME}`), target: unitPath, why: 'start the service at boot (systemctl enable)' });
  if (!facts.packagedAutostart) {
    changes.push({ kind: 'file', path: r(AUTOSTART_FILE), content: xdgAutostartEntry(LINUX_EXECUTABLE), mode: 0o644, why: 'start the per-user helper in desktop sessions' });
  }

  if (facts.caPem === undefined) {
    notes.push('the CA is held by the gateway (ca_mode gateway): trust it through your MDM or run `heimdall install` again once the daemon has fetched it');
  } else if (facts.trustStore) {
    const store = facts.trustStore;
    changes.push({ kind: 'file', path: r(path.posix.join(store.anchorDir, store.fileName)), content: facts.caPem, mode: 0o644, why: `trust Heimdall's CA system-wide (${store.name})` });
    refreshes.push({ run: store.refresh, afterRemoval: store.refreshAfterRemoval, scope: 'live', why: 'rebuild the system CA bundle' });
  } else {
    notes.push(`no known CA anchor folder under ${facts.root} (looked for ${LINUX_TRUST_STORES.map((s) => s.anchorDir).join(', ')}): add ${PUBLIC_DIR}/ca.pem to this system's trust store by hand`);
  }
  if (facts.caPem !== undefined) {
    // certutil adds an entry to a database; uninstall deletes that entry (the file is a database, not restorable byte for byte).
    for (const db of facts.nssDatabases) {
      changes.push({
        kind: 'command',
        run: ['certutil', '-A', '-d', `sql:${db}`, '-n', NSS_NICKNAME, '-t', 'C,,', '-i', facts.caFile],
        undo: ['certutil', '-D', '-d', `sql:${db}`, '-n', NSS_NICKNAME],
        scope: 'always',
        why: `trust Heimdall's CA in the NSS database ${db} (Chromium or Firefox)`,
      });
    }
  }

  changes.push({ kind: 'file', path: r('/etc/profile.d/heimdall.sh'), content: shellProfile(proxy), mode: 0o644, why: 'proxy and CA variables for login shells' });
  changes.push({ kind: 'file', path: r('/etc/environment.d/90-heimdall.conf'), content: environmentD(proxy), mode: 0o644, why: 'proxy and CA variables for systemd user sessions (desktop apps started outside a shell)' });
  changes.push({ kind: 'file', path: r('/etc/claude-code/managed-settings.d/heimdall-proxy.json'), content: claudeCodeManagedEnv(proxy), mode: 0o644, why: "Claude Code's managed settings: the proxy whatever shell starts it" });

  if (facts.hasDconf) {
    if (!facts.dconfProfileExists) {
      changes.push({ kind: 'file', path: r('/etc/dconf/profile/user'), content: 'user-db:user\nsystem-db:local\n', mode: 0o644, why: 'let the system dconf database (GNOME settings) apply' });
    }
    changes.push({ kind: 'file', path: r('/etc/dconf/db/local.d/90-heimdall-proxy'), content: `[system/proxy]\nmode='auto'\nautoconfig-url='${facts.pacUrl}'\n`, mode: 0o644, why: 'GNOME desktop proxy: the PAC (browsers and GUI apps)' });
    refreshes.push({ run: ['dconf', 'update'], scope: 'live', why: 'compile the system dconf database' });
  } else {
    notes.push('no dconf on this system: desktop apps get the proxy from /etc/environment.d only');
  }

  refreshes.push({ run: ['systemctl', 'daemon-reload'], scope: 'service', why: 'let systemd see the unit' });
  services.push({ kind: 'command', run: ['systemctl', 'restart', LINUX_UNIT_NAME], undo: ['systemctl', 'stop', LINUX_UNIT_NAME], scope: 'service', why: 'start the daemon now (restart picks up a new binary on upgrade)' });
  return { platform: 'linux', changes, refreshes, services, notes };
}

/** Chromium's per-user database and every Firefox profile (also the snap's), for each home under root. */
export function findNssDatabases(root: string, homes: readonly string[]): string[] {
  const found: string[] = [];
  for (const home of homes) {
    const h = under(root, home);
    const chromium = path.join(h, '.pki/nssdb');
    if (existsSync(path.join(chromium, 'cert9.db'))) found.push(chromium);
    for (const profiles of [path.join(h, '.mozilla/firefox'), path.join(h, 'snap/firefox/common/.mozilla/firefox')]) {
      let entries: string[];
      try {
        entries = readdirSync(profiles);
      } catch {
        continue;
      }
      for (const e of entries.sort()) if (existsSync(path.join(profiles, e, 'cert9.db'))) found.push(path.join(profiles, e));
    }
  }
  return found;
}

/** Home folders of real users in root's /etc/passwd (uid >= 1000, not nobody), plus /root. */
export function passwdHomes(root: string): string[] {
  let text: string;
  try {
    text = readFileSync(under(root, '/etc/passwd'), 'utf8');
  } catch {
    return [];
  }
  const homes = new Set<string>(['/root']);
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const uid = Number(f[2]);
    if (f.length >= 7 && uid >= 1000 && uid < 65534 && f[5]) homes.add(f[5]);
  }
  return [...homes];
}

export function detectTrustStore(root: string): LinuxTrustStore | undefined {
  return LINUX_TRUST_STORES.find((s) => existsSync(under(root, s.anchorDir)));
}

export function linuxSystemFacts(root: string): Omit<LinuxFacts, 'caPem' | 'caFile' | 'proxyUrl' | 'pacUrl'> {
  const exists = (p: string): boolean => existsSync(under(root, p));
  return {
    root,
    trustStore: detectTrustStore(root),
    nssDatabases: findNssDatabases(root, passwdHomes(root)),
    hasDconf: exists('/usr/bin/dconf'),
    dconfProfileExists: exists('/etc/dconf/profile/user'),
    packagedUnit: PACKAGED_UNIT_DIRS.some((d) => exists(`${d}/${LINUX_UNIT_NAME}`)),
    packagedAutostart: exists(AUTOSTART_FILE),
  };
}
