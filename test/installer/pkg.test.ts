import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parsePlist } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkg } from '../../installer/src/packages/pkg.ts';
import { readBom } from '../helpers/bom-reader.ts';

let dir: string;
const built: Record<string, string> = {};
const extracted: Record<string, string> = {};
const sh = (cmd: string, args: string[], options: { cwd?: string; input?: Buffer } = {}): string => execFileSync(cmd, args, { encoding: 'utf8', ...options });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'heimdall-pkg-'));
  const exe = path.join(dir, 'heimdall');
  writeFileSync(exe, Buffer.concat([Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), Buffer.alloc(70_000, 7)]));
  chmodSync(exe, 0o755);
  for (const arch of pkg.arches) {
    built[arch] = await pkg.build({ executable: exe, arch, version: '0.1.0', outDir: path.join(dir, 'out'), sourceDateEpoch: 1764806400, workDir: path.join(dir, 'work') });
    const x = path.join(dir, `x-${arch}`);
    mkdirSync(path.join(x, 'payload'), { recursive: true });
    sh('bsdtar', ['-xf', built[arch], '-C', x]);
    // GNU cpio, not our writer, unpacks the gzip'd odc Payload.
    sh('cpio', ['-idm', '--quiet'], { cwd: path.join(x, 'payload'), input: execFileSync('gzip', ['-dc', path.join(x, 'heimdall.pkg/Payload')]) });
    extracted[arch] = x;
  }
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the macOS flat .pkg', () => {
  it('is a xar archive bsdtar lists, with Distribution and one component package', () => {
    expect(path.basename(built['arm64']!)).toBe('heimdall-0.1.0-darwin-arm64.pkg');
    expect(path.basename(built['x64']!)).toBe('heimdall-0.1.0-darwin-x64.pkg');
    expect(readFileSync(built['arm64']!).toString('ascii', 0, 4)).toBe('xar!');
    expect(sh('bsdtar', ['-tf', built['arm64']!]).trim().split('\n').sort()).toEqual(['Distribution', 'heimdall.pkg', 'heimdall.pkg/Bom', 'heimdall.pkg/PackageInfo', 'heimdall.pkg/Payload', 'heimdall.pkg/Scripts']);
  });

  it('has a Distribution and PackageInfo that are well-formed and name the identifier, version and architecture', () => {
    for (const arch of ['arm64', 'x64'] as const) {
      const x = extracted[arch]!;
      sh('xmllint', ['--noout', path.join(x, 'Distribution'), path.join(x, 'heimdall.pkg/PackageInfo')]);
      const distribution = readFileSync(path.join(x, 'Distribution'), 'utf8');
      expect(distribution).toContain(`hostArchitectures="${arch === 'arm64' ? 'arm64' : 'x86_64'}"`);
      expect(distribution).toContain('<pkg-ref id="io.heimdall.agent" version="0.1.0" onConclusion="none"');
      expect(distribution).toContain('>#heimdall.pkg</pkg-ref>');
      const info = readFileSync(path.join(x, 'heimdall.pkg/PackageInfo'), 'utf8');
      expect(info).toMatch(/identifier="io\.heimdall\.agent" version="0\.1\.0" install-location="\/" auth="root"/);
      // 70,004 bytes of executable plus the uninstall script and two plists: 71 KiB in 10 paths.
      expect(info).toContain('<payload installKBytes="71" numberOfFiles="10"/>');
    }
  });

  it('carries the executable, the LaunchDaemon and the LaunchAgent in its Payload (gzip cpio odc)', () => {
    const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: execFileSync('gzip', ['-dc', path.join(extracted['arm64']!, 'heimdall.pkg/Payload')]), encoding: 'utf8' });
    expect(listing).toMatch(/^-rwxr-xr-x +1 root +root +70004 .* \.\/Library\/Heimdall\/bin\/heimdall$/m);
    expect(listing).toMatch(/^-rw-r--r-- .* \.\/Library\/LaunchDaemons\/io\.heimdall\.agent\.plist$/m);
    expect(listing).toMatch(/^-rw-r--r-- .* \.\/Library\/LaunchAgents\/io\.heimdall\.agent\.helper\.plist$/m);
    expect(readFileSync(path.join(extracted['arm64']!, 'payload/Library/Heimdall/bin/heimdall'))).toHaveLength(70_004);
  });

  it('has plists that lint: the daemon always running, the helper per user', () => {
    const payload = path.join(extracted['x64']!, 'payload');
    const daemonFile = path.join(payload, 'Library/LaunchDaemons/io.heimdall.agent.plist');
    const agentFile = path.join(payload, 'Library/LaunchAgents/io.heimdall.agent.helper.plist');
    sh('xmllint', ['--noout', daemonFile, agentFile]);
    const daemon = parsePlist(readFileSync(daemonFile, 'utf8')) as Record<string, unknown>;
    expect(daemon).toMatchObject({ Label: 'io.heimdall.agent', ProgramArguments: ['/Library/Heimdall/bin/heimdall', 'run'], RunAtLoad: true, KeepAlive: true, ThrottleInterval: 10 });
    const agent = parsePlist(readFileSync(agentFile, 'utf8')) as Record<string, unknown>;
    expect(agent).toMatchObject({ Label: 'io.heimdall.agent.helper', ProgramArguments: ['/Library/Heimdall/bin/heimdall', 'login', '--if-needed'], RunAtLoad: true, LimitLoadToSessionType: ['Aqua'] });
  });

  it('has a Bom that an independent reader parses into the Payload\'s paths, modes, sizes and cksums', () => {
    const x = extracted['arm64']!;
    const bom = readBom(readFileSync(path.join(x, 'heimdall.pkg/Bom')));
    expect(bom.variables).toEqual(expect.arrayContaining(['BomInfo', 'Paths', 'HLIndex', 'VIndex', 'Size64']));
    const payloadNames = execFileSync('cpio', ['-it', '--quiet'], { input: execFileSync('gzip', ['-dc', path.join(x, 'heimdall.pkg/Payload')]), encoding: 'utf8' }).trim().split('\n');
    expect(bom.paths.map((p) => p.path)).toEqual(payloadNames);
    for (const p of bom.paths) {
      const onDisk = path.join(x, 'payload', p.path);
      const st = statSync(onDisk);
      expect(p.mode, p.path).toBe(st.mode & 0o177777);
      expect([p.uid, p.gid], p.path).toEqual([0, 0]);
      if (p.type === 1) {
        expect(p.size, p.path).toBe(st.size);
        // cksum(1) from coreutils is the reference for the checksum field.
        expect(p.checksum, p.path).toBe(Number(sh('cksum', [onDisk]).split(' ')[0]));
      } else {
        expect(p.type, p.path).toBe(2);
      }
    }
  });

  it('has install scripts that stop the old daemon, run heimdall install and bootstrap the daemon with retries', () => {
    const scripts = path.join(extracted['arm64']!, 'scripts');
    mkdirSync(scripts);
    sh('cpio', ['-idm', '--quiet'], { cwd: scripts, input: execFileSync('gzip', ['-dc', path.join(extracted['arm64']!, 'heimdall.pkg/Scripts')]) });
    for (const s of ['preinstall', 'postinstall']) {
      expect(statSync(path.join(scripts, s)).mode & 0o777).toBe(0o755);
      sh('sh', ['-n', path.join(scripts, s)]);
    }
    expect(readFileSync(path.join(scripts, 'preinstall'), 'utf8')).toContain('launchctl bootout system/io.heimdall.agent');
    const post = readFileSync(path.join(scripts, 'postinstall'), 'utf8');
    expect(post).toContain('/Library/Heimdall/bin/heimdall install --no-start');
    expect(post).toMatch(/until launchctl bootstrap system \/Library\/LaunchDaemons\/io\.heimdall\.agent\.plist[\s\S]*sleep 3\ndone/);
    expect(post).toContain('heimdall status --json');
  });
});
