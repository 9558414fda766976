import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deb } from '../../installer/src/packages/deb.ts';
import { LINTIAN_KEPT, RPMLINT_KEPT } from '../../installer/src/packages/lint-explanations.ts';
import { rpm } from '../../installer/src/packages/rpm.ts';
import { snapshotTree } from '../helpers/tree-snapshot.ts';

let dir: string;
let standIn: string;
const EPOCH = 1764806400;
const built: Record<string, string> = {};

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
/** Lint tags found (the second word of "pkg: E: tag detail"), without the ones the table explains. */
const unexplained = (output: string, kept: Readonly<Record<string, string>>): string[] =>
  [...output.matchAll(/^\S+:? [EWI]: (\S+)/gm)].map((m) => m[1]!).filter((tag) => !(tag in kept));

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-linux-packages-'));
  // The structure does not depend on what the executable is; a stand-in keeps these tests fast.
  standIn = path.join(dir, 'heimdall-stand-in');
  writeFileSync(standIn, '#!/bin/sh\necho "heimdall stand-in"\n');
  chmodSync(standIn, 0o755);
  for (const format of [deb, rpm]) {
    for (const arch of format.arches) {
      built[`${format.name}-${arch}`] = await format.build({ executable: standIn, arch, version: '0.1.0', outDir: path.join(dir, 'out'), sourceDateEpoch: EPOCH, workDir: path.join(dir, 'work') });
    }
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the .deb', () => {
  it('is named as the shared contract says and carries the payload with its modes', () => {
    expect(path.basename(built['deb-x64']!)).toBe('heimdall_0.1.0_amd64.deb');
    expect(path.basename(built['deb-arm64']!)).toBe('heimdall_0.1.0_arm64.deb');
    const listing = sh('dpkg-deb', ['-c', built['deb-x64']!]);
    expect(listing).toMatch(/^-rwxr-xr-x root\/root .* \.\/opt\/heimdall\/bin\/heimdall$/m);
    expect(listing).toMatch(/^lrwxrwxrwx root\/root .* \.\/usr\/bin\/heimdall -> \/opt\/heimdall\/bin\/heimdall$/m);
    expect(listing).toMatch(/^-rw-r--r-- root\/root .* \.\/lib\/systemd\/system\/heimdall\.service$/m);
    expect(listing).toMatch(/^-rw-r--r-- root\/root .* \.\/etc\/heimdall\/config\.json$/m);
    expect(listing).toMatch(/^-rw-r--r-- root\/root .* \.\/etc\/xdg\/autostart\/heimdall-helper\.desktop$/m);
    expect(sh('dpkg-deb', ['-f', built['deb-arm64']!, 'Architecture']).trim()).toBe('arm64');
  });

  it('marks the managed config as a conffile and runs heimdall install / uninstall from its maintainer scripts', () => {
    const control = path.join(dir, 'control');
    sh('dpkg-deb', ['-e', built['deb-x64']!, control]);
    expect(readFileSync(path.join(control, 'conffiles'), 'utf8')).toBe('/etc/xdg/autostart/heimdall-helper.desktop\n/etc/heimdall/config.json\n');
    expect(readFileSync(path.join(control, 'postinst'), 'utf8')).toMatch(/configure\)\n\s+\/opt\/heimdall\/bin\/heimdall install\n\s+heimdall_health_check/);
    expect(readFileSync(path.join(control, 'prerm'), 'utf8')).toMatch(/remove\|deconfigure\)\n\s+\/opt\/heimdall\/bin\/heimdall uninstall/);
    expect(readFileSync(path.join(control, 'postrm'), 'utf8')).toMatch(/purge\)\n\s+rm -rf \/var\/lib\/heimdall \/run\/heimdall/);
    for (const script of ['postinst', 'prerm', 'postrm']) sh('sh', ['-n', path.join(control, script)]);
  });

  it('is lintian-clean except the findings the table explains', () => {
    let output: string;
    try {
      output = sh('lintian', ['--tag-display-limit', '0', built['deb-x64']!]);
    } catch (err) {
      output = String((err as { stdout?: string }).stdout);
    }
    expect(output).toContain('dir-or-file-in-opt');
    expect(unexplained(output, LINTIAN_KEPT)).toEqual([]);
  }, 120_000);

  it("has a systemd unit systemd-analyze verify accepts, with the hardening and restart policy", () => {
    const root = path.join(dir, 'verify-root');
    sh('dpkg-deb', ['-x', built['deb-x64']!, root]);
    // The unit's dependencies (multi-user.target, network-online.target) come from this host's systemd.
    mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
    cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    // --man=no: the page named in Documentation= is in the package, not in this host's man database.
    sh('systemd-analyze', ['verify', '--man=no', `--root=${root}`, path.join(root, 'lib/systemd/system/heimdall.service')]);
    const unit = readFileSync(path.join(root, 'lib/systemd/system/heimdall.service'), 'utf8');
    for (const line of ['Restart=always', 'StateDirectory=heimdall', 'StateDirectoryMode=0700', 'ProtectSystem=true', 'NoNewPrivileges=yes']) expect(unit).toContain(`\n${line}\n`);
    expect(unit).not.toMatch(/ProtectHome|ProtectProc|MemoryDenyWriteExecute/);
  });

  it('gives the same bytes for the same input', async () => {
    const again = await deb.build({ executable: standIn, arch: 'x64', version: '0.1.0', outDir: path.join(dir, 'again'), sourceDateEpoch: EPOCH, workDir: path.join(dir, 'work-again') });
    expect(sha(again)).toBe(sha(built['deb-x64']!));
  });
});

describe('the .rpm', () => {
  it('is named as the shared contract says and lists the payload with its modes and config files', () => {
    expect(path.basename(built['rpm-x64']!)).toBe('heimdall-0.1.0-1.x86_64.rpm');
    expect(path.basename(built['rpm-arm64']!)).toBe('heimdall-0.1.0-1.aarch64.rpm');
    const listing = sh('rpm', ['-qlvp', built['rpm-arm64']!]);
    expect(listing).toMatch(/^-rwxr-xr-x .* root +root .* \/opt\/heimdall\/bin\/heimdall$/m);
    expect(listing).toMatch(/^-rw-r--r-- .* \/usr\/lib\/systemd\/system\/heimdall\.service$/m);
    expect(sh('rpm', ['-qcp', built['rpm-x64']!]).trim().split('\n')).toEqual(['/etc/heimdall/config.json', '/etc/xdg/autostart/heimdall-helper.desktop']);
    expect(sh('rpm', ['-qp', '--qf', '%{ARCH}', built['rpm-arm64']!])).toBe('aarch64');
  });

  it('runs heimdall install after install and upgrade, uninstall and state removal only on erase', () => {
    const scripts = sh('rpm', ['-qp', '--scripts', built['rpm-x64']!]);
    expect(scripts).toMatch(/postinstall scriptlet[\s\S]*\/opt\/heimdall\/bin\/heimdall install \|\|/);
    expect(scripts).toMatch(/preuninstall scriptlet[\s\S]*if \[ "\$1" -eq 0 \]; then\n\s+\/opt\/heimdall\/bin\/heimdall uninstall/);
    expect(scripts).toMatch(/postuninstall scriptlet[\s\S]*if \[ "\$1" -eq 0 \]; then\n\s+rm -rf \/var\/lib\/heimdall \/run\/heimdall/);
  });

  it('installs into an empty root with the files and modes of its listing', () => {
    const root = path.join(dir, 'rpm-root');
    mkdirSync(root);
    // --noscripts: an empty root has no /bin/sh to run them; the scripts are checked above and the
    // same heimdall install runs for real in the .deb test.
    sh('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-i', '--nodeps', '--noscripts', '--ignorearch', built['rpm-x64']!]);
    // rpm's own database is the only thing in the root the package does not list.
    const tree = snapshotTree(root, (rel) => rel.startsWith('var/lib/rpm') || rel.startsWith('usr/lib/sysimage/rpm'));
    expect(tree.get('opt/heimdall/bin/heimdall')).toBe(`file 0755 0:0 ${sha(standIn)}`);
    expect(tree.get('usr/bin/heimdall')).toBe('link 0777 -> ../../opt/heimdall/bin/heimdall');
    expect(tree.get('etc/heimdall/config.json')).toMatch(/^file 0644 0:0 /);
    expect(tree.get('usr/lib/systemd/system/heimdall.service')).toMatch(/^file 0644 0:0 /);
    const listed = sh('rpm', ['-qlp', built['rpm-x64']!]).trim().split('\n').map((p) => p.slice(1));
    const files = [...tree.entries()].filter(([, v]) => !v.startsWith('dir')).map(([p]) => p);
    expect(files.sort()).toEqual(listed.filter((p) => tree.get(p) && !tree.get(p)!.startsWith('dir')).sort());
  });

  it('is rpmlint-clean except the findings the table explains', () => {
    let output: string;
    try {
      output = sh('rpmlint', [built['rpm-x64']!, built['rpm-arm64']!]);
    } catch (err) {
      output = String((err as { stdout?: string }).stdout);
    }
    expect(output).toContain('packages and 0 specfiles checked');
    expect(unexplained(output, RPMLINT_KEPT)).toEqual([]);
  });

  it('gives the same bytes for the same input', async () => {
    const again = await rpm.build({ executable: standIn, arch: 'x64', version: '0.1.0', outDir: path.join(dir, 'again'), sourceDateEpoch: EPOCH, workDir: path.join(dir, 'work-again') });
    expect(sha(again)).toBe(sha(built['rpm-x64']!));
  });
});
