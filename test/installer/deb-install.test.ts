// The .deb installed for real: dpkg -i into a Debian root made with debootstrap, the installed agent
// run there (version, a request through its proxy), then dpkg --purge and the root compared with
// what it was before, path by path (type, mode, owner, content hash).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildExecutables } from '../../installer/src/index.ts';
import { deb } from '../../installer/src/packages/deb.ts';
import { ChrootSession, cachedDebianRoot } from '../helpers/debian-root.ts';
import { startProcess, type RunningProcess } from '../helpers/process.ts';
import { diffSnapshots, snapshotTree } from '../helpers/tree-snapshot.ts';

// The single-file executable this package ships, built from these sources for the test (as
// `npm run package` does), or HEIMDALL_LINUX_EXECUTABLE. A development executable that needs host
// folders names them in HEIMDALL_TEST_CHROOT_BINDS (host:inside,...).
const GIVEN_EXECUTABLE = process.env['HEIMDALL_LINUX_EXECUTABLE'];
const BINDS = (process.env['HEIMDALL_TEST_CHROOT_BINDS'] ?? '').split(',').filter(Boolean).map((b) => b.split(':') as [string, string]);

// What dpkg itself writes about any package it installs and purges: its database and its log.
const DPKG_BOOKKEEPING = /^(var\/lib\/dpkg\/(status|status-old|info\/heimdall\.\w+|triggers\/\w+)|var\/log\/dpkg\.log|var\/cache\/debconf\/\w+\.dat(-old)?)$/;

let work: string;
let root: string;
let session: ChrootSession;
let before: Map<string, string>;
let gateway: http.Server;
const skip = (rel: string): boolean => rel === 'proc' || rel.startsWith('proc/');

function inRoot(command: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const [cmd, args] = session.argv(command);
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DEBIAN_FRONTEND: 'noninteractive' }, timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  if (GIVEN_EXECUTABLE !== undefined && !existsSync(GIVEN_EXECUTABLE)) throw new Error(`HEIMDALL_LINUX_EXECUTABLE=${GIVEN_EXECUTABLE} does not exist`);
  const cache = cachedDebianRoot();
  work = mkdtempSync('/var/tmp/heimdall-deb-install-');
  let EXECUTABLE = GIVEN_EXECUTABLE;
  if (EXECUTABLE === undefined) {
    const made = await buildExecutables({ targets: ['linux-x64'], outDir: path.join(work, 'executables'), workDir: path.join(work, 'executables-build') });
    if (!made.built[0]) throw new Error(`could not build the linux-x64 executable: ${made.notBuilt.map((n) => n.reason).join('; ')}`);
    EXECUTABLE = made.built[0].file;
  }
  root = path.join(work, 'root');
  execFileSync('cp', ['-a', '--reflink=auto', cache, root]);
  const built = await deb.build({ executable: EXECUTABLE, arch: 'x64', version: '0.1.0', outDir: work, sourceDateEpoch: 1764806400, workDir: path.join(work, 'build') });
  copyFileSync(built, path.join(root, 'tmp/heimdall.deb'));
  session = await ChrootSession.start(root, BINDS);
  before = snapshotTree(root, skip);
  gateway = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}'));
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
}, 20 * 60_000);

afterAll(() => {
  session?.stop();
  gateway?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the .deb in a real Debian root', () => {
  let daemon: RunningProcess | undefined;

  it('installs with dpkg -i: heimdall install trusts the CA in the system bundle and writes the environment', () => {
    const r = inRoot(['dpkg', '-i', '/tmp/heimdall.deb']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('ran update-ca-certificates');
    const ca = readFileSync(path.join(root, 'var/lib/heimdall/ca.pem'), 'utf8').trim();
    expect(readFileSync(path.join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8')).toContain(ca);
    expect(readFileSync(path.join(root, 'etc/profile.d/heimdall.sh'), 'utf8')).toContain("export HTTPS_PROXY='http://127.0.0.1:7420'");
    expect(readFileSync(path.join(root, 'etc/environment.d/90-heimdall.conf'), 'utf8')).toContain('NODE_USE_ENV_PROXY=1');
    expect(snapshotTree(root, skip).get('var/lib/heimdall')).toMatch(/^dir 0700 /);
  });

  it('has a unit systemd-analyze verify accepts in that root', () => {
    execFileSync('systemd-analyze', ['verify', '--man=no', `--root=${root}`, path.join(root, 'lib/systemd/system/heimdall.service')]);
  });

  it('runs the installed binary: heimdall version, and heimdall run serving a request through its proxy', async () => {
    const version = inRoot(['heimdall', 'version']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^heimdall 0\.1\.0/);

    const port = 17000 + Math.floor(Math.random() * 2000);
    writeFileSync(path.join(root, 'etc/heimdall/config.json'), JSON.stringify({ gateway_url: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`, proxy_port: port }));
    const [cmd, args] = session.argv(['/opt/heimdall/bin/heimdall', 'run']);
    daemon = startProcess(cmd, args);
    await daemon.waitForLine((l) => l.includes('"heimdall daemon started"'), 60_000);
    // curl trusts only the root's own bundle: the proxy's leaf verifies because install put the CA there.
    const curl = spawnSync('curl', ['-sS', '-i', '--cacert', path.join(root, 'etc/ssl/certs/ca-certificates.crt'), '-x', `http://127.0.0.1:${port}`, 'https://api.openai.com/v1/models', '-H', 'authorization: Bearer sk-test'], { encoding: 'utf8', timeout: 30_000 });
    expect(curl.status, curl.stderr).toBe(0);
    // Nobody signed in in this root: Heimdall answers in OpenAI's error shape instead of forwarding.
    expect(curl.stdout).toMatch(/x-heimdall-error: not_signed_in/i);
    expect(curl.stdout).toContain('"code":"heimdall_not_signed_in"');
    daemon.child.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  }, 120_000);

  it('installs again over itself (the upgrade path: prerm upgrade, postinst configure) with the first install\'s record kept', () => {
    const r = inRoot(['dpkg', '-i', '/tmp/heimdall.deb']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const record = JSON.parse(readFileSync(path.join(root, 'var/lib/heimdall/install-record.json'), 'utf8')) as { changes: { kind: string; path?: string; before?: unknown }[] };
    const profile = record.changes.filter((c) => c.path === '/etc/profile.d/heimdall.sh');
    expect(profile).toEqual([expect.objectContaining({ kind: 'file', before: null })]);
  });

  it('dpkg -r takes back what install did and keeps the state; the CA leaves the bundle', () => {
    const r = inRoot(['dpkg', '-r', 'heimdall']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(existsSync(path.join(root, 'etc/profile.d/heimdall.sh'))).toBe(false);
    expect(existsSync(path.join(root, 'usr/local/share/ca-certificates/heimdall-local-ca.crt'))).toBe(false);
    const ca = readFileSync(path.join(root, 'var/lib/heimdall/ca.pem'), 'utf8').trim();
    expect(readFileSync(path.join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8')).not.toContain(ca);
    expect(existsSync(path.join(root, 'var/lib/heimdall/install-record.json'))).toBe(false);
  });

  it('dpkg --purge leaves the root as it was before, apart from dpkg\'s own records', () => {
    const r = inRoot(['dpkg', '--purge', 'heimdall']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const diff = diffSnapshots(before, snapshotTree(root, skip));
    // systemd-creds makes the machine's host credential key on first use (the daemon seals its token
    // vault key with it, docs/security.md "Tokens at rest"); it is systemd's, shared with every unit
    // that uses credentials, so a purge of Heimdall leaves it. Only its creation is accepted here.
    const others = diff.filter((line) => !DPKG_BOOKKEEPING.test(line.split(' ')[1]!) && !/^\+ var\/lib\/systemd\/credential\.secret file 0400 0:0 /.test(line));
    expect(others).toEqual([]);
    // The CA is out of the bundle again (update-ca-certificates after uninstall): same bytes as before.
    expect(diff.some((l) => l.includes('ca-certificates.crt'))).toBe(false);
  });
});
