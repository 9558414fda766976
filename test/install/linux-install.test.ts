import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { installAgent, NSS_NICKNAME, readInstallRecord, uninstallAgent } from '../../agent/src/install/index.ts';
import { HEIMDALL_BIN } from '../helpers/process.ts';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.ts';

let root: string;
const lines: string[] = [];
const report = (l: string): void => void lines.push(l);
// Small key: the CA's size is not what these tests are about.
const options = (): { root: string; platform: 'linux'; report: typeof report; caKeyBits: number } => ({ root, platform: 'linux', report, caKeyBits: 1024 });

// NSS keeps its entries in SQLite files whose bytes change on any write: compared by their entries instead.
const notNss = (rel: string): boolean => rel.startsWith('home/alice/.pki/nssdb/') || rel.startsWith('home/alice/.mozilla/firefox/abcd.default-release/');

function nssNicknames(db: string): string {
  return execFileSync('certutil', ['-L', '-d', `sql:${db}`], { encoding: 'utf8' });
}

beforeEach(() => {
  lines.length = 0;
  root = mkdtempSync(path.join(tmpdir(), 'heimdall-install-root-'));
  // A small Debian-like root: the anchor folder, a profile.d file of the same name already there,
  // a user with a Chromium and a Firefox NSS database.
  for (const d of ['usr/local/share/ca-certificates', 'etc/profile.d', 'var/lib', 'home/alice/.pki/nssdb', 'home/alice/.mozilla/firefox/abcd.default-release', 'etc/systemd/system']) mkdirSync(path.join(root, d), { recursive: true });
  writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n');
  writeFileSync(path.join(root, 'etc/profile.d/heimdall.sh'), '# an admin wrote this before Heimdall came\n', { mode: 0o640 });
  for (const db of ['home/alice/.pki/nssdb', 'home/alice/.mozilla/firefox/abcd.default-release']) execFileSync('certutil', ['-N', '-d', `sql:${path.join(root, db)}`, '--empty-password']);
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('heimdall install / uninstall on a Linux root', () => {
  it('trusts the CA, writes the environment and the service, then uninstall --purge leaves the root as it was', async () => {
    const before = snapshotTree(root, notNss);
    await installAgent(options());

    const ca = readFileSync(path.join(root, 'var/lib/heimdall/ca.pem'), 'utf8');
    expect(readFileSync(path.join(root, 'usr/local/share/ca-certificates/heimdall-local-ca.crt'), 'utf8')).toBe(ca);
    expect(statSync(path.join(root, 'usr/local/share/ca-certificates/heimdall-local-ca.crt')).mode & 0o777).toBe(0o644);
    const profile = readFileSync(path.join(root, 'etc/profile.d/heimdall.sh'), 'utf8');
    expect(profile).toContain("export HTTPS_PROXY='http://127.0.0.1:7420'");
    expect(profile).toContain("export NODE_EXTRA_CA_CERTS='/usr/local/share/ca-certificates/heimdall-local-ca.crt'");
    expect(profile).toContain("export NODE_USE_ENV_PROXY='1'");
    expect(readFileSync(path.join(root, 'etc/environment.d/90-heimdall.conf'), 'utf8')).toContain('SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt');
    expect(JSON.parse(readFileSync(path.join(root, 'etc/claude-code/managed-settings.d/heimdall-proxy.json'), 'utf8')).env.HTTPS_PROXY).toBe('http://127.0.0.1:7420');
    expect(readFileSync(path.join(root, 'etc/systemd/system/heimdall.service'), 'utf8')).toContain('ExecStart=/opt/heimdall/bin/heimdall run');
    expect(readlinkSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/heimdall.service'))).toBe('/etc/systemd/system/heimdall.service');
    expect(readFileSync(path.join(root, 'etc/xdg/autostart/heimdall-helper.desktop'), 'utf8')).toContain('Exec=/opt/heimdall/bin/heimdall login --if-needed');
    expect(nssNicknames(path.join(root, 'home/alice/.pki/nssdb'))).toContain(NSS_NICKNAME);
    expect(nssNicknames(path.join(root, 'home/alice/.mozilla/firefox/abcd.default-release'))).toContain(NSS_NICKNAME);
    // Commands only the live system can run are said, not silently dropped, and never run on this machine.
    expect(lines).toContain('not run here (not the live system): update-ca-certificates');
    expect(lines).toContain('not run here (not the live system): systemctl restart heimdall.service');
    expect(lines.filter((l) => l.startsWith('ran ')).every((l) => l.startsWith('ran certutil'))).toBe(true);

    await uninstallAgent({ ...options(), purge: true });
    expect(diffSnapshots(before, snapshotTree(root, notNss))).toEqual([]);
    expect(nssNicknames(path.join(root, 'home/alice/.pki/nssdb'))).not.toContain(NSS_NICKNAME);
    expect(nssNicknames(path.join(root, 'home/alice/.mozilla/firefox/abcd.default-release'))).not.toContain(NSS_NICKNAME);
  });

  it('installing twice (an upgrade) still restores the file that was there before the first install', async () => {
    const before = snapshotTree(root, notNss);
    await installAgent(options());
    await installAgent(options());
    const record = await readInstallRecord(path.join(root, 'var/lib/heimdall/install-record.json'));
    expect(record?.changes.filter((c) => c.kind === 'file' && c.path.endsWith('profile.d/heimdall.sh'))).toHaveLength(1);
    await uninstallAgent({ ...options(), purge: true });
    expect(diffSnapshots(before, snapshotTree(root, notNss))).toEqual([]);
  });

  it('leaves a file someone edited after install, and says so', async () => {
    await installAgent(options());
    const env = path.join(root, 'etc/environment.d/90-heimdall.conf');
    writeFileSync(env, 'EDITED=1\n');
    await uninstallAgent(options());
    expect(readFileSync(env, 'utf8')).toBe('EDITED=1\n');
    expect(lines.some((l) => l.includes(`left ${env} as it is`))).toBe(true);
    // Everything else was still taken back.
    expect(readFileSync(path.join(root, 'etc/profile.d/heimdall.sh'), 'utf8')).toBe('# an admin wrote this before Heimdall came\n');
  });

  it('keeps the state dir (the CA key) without --purge, so a reinstall trusts the same CA', async () => {
    await installAgent(options());
    const ca = readFileSync(path.join(root, 'var/lib/heimdall/ca.pem'), 'utf8');
    await uninstallAgent(options());
    expect(statSync(path.join(root, 'var/lib/heimdall')).mode & 0o777).toBe(0o700);
    await installAgent(options());
    expect(readFileSync(path.join(root, 'usr/local/share/ca-certificates/heimdall-local-ca.crt'), 'utf8')).toBe(ca);
  });

  it('names the file when the managed config cannot be read', async () => {
    mkdirSync(path.join(root, 'etc/heimdall'), { recursive: true });
    writeFileSync(path.join(root, 'etc/heimdall/config.json'), '{ not json');
    await expect(installAgent(options())).rejects.toThrow(/etc\/heimdall\/config\.json: it is not valid JSON/);
  });

  it('uses the managed proxy port in the environment', async () => {
    mkdirSync(path.join(root, 'etc/heimdall'), { recursive: true });
    writeFileSync(path.join(root, 'etc/heimdall/config.json'), JSON.stringify({ gateway_url: 'https://ai.example.com', proxy_port: 7555 }));
    await installAgent(options());
    expect(readFileSync(path.join(root, 'etc/profile.d/heimdall.sh'), 'utf8')).toContain("export HTTPS_PROXY='http://127.0.0.1:7555'");
  });
});

describe('heimdall install --dry-run', () => {
  it('prints the changes and makes none', () => {
    const before = snapshotTree(root, notNss);
    const out = execFileSync(process.execPath, [HEIMDALL_BIN, 'install', '--dry-run', '--root', root], { encoding: 'utf8' });
    expect(out).toContain(`file ${path.join(root, 'etc/profile.d/heimdall.sh')}  # proxy and CA variables for login shells`);
    expect(out).toContain(`run certutil -A -d sql:${path.join(root, 'home/alice/.pki/nssdb')} -n Heimdall local CA`);
    expect(out).toContain('run systemctl restart heimdall.service');
    expect(diffSnapshots(before, snapshotTree(root, notNss))).toEqual([]);
  });
});
