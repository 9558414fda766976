// The macOS flat package, built on Linux: a xar archive (bsdtar) holding Distribution and one
// component package (PackageInfo, Bom, Payload, Scripts). Payload and Scripts are gzip'd cpio (odc);
// the Bom is written by bom.ts.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  DARWIN_DAEMON_LABEL,
  DARWIN_DAEMON_PLIST,
  DARWIN_EXECUTABLE,
  DARWIN_HELPER_LABEL,
  DARWIN_HELPER_PLIST,
  launchAgentPlist,
  launchDaemonPlist,
} from '../../../agent/src/install/index.ts';
import { posixCksum, writeBom, type BomEntry } from './bom.ts';
import { S_IFDIR, S_IFREG, writeCpioOdc, type CpioEntry } from './cpio.ts';
import { fixTimes } from './stage.ts';
import type { PackageArch, PackageFormat, PackageInput } from './types.ts';

const run = promisify(execFile);
export const PKG_IDENTIFIER = 'io.heimdall.agent';
const COMPONENT = 'heimdall.pkg';
const HOST_ARCH: Record<PackageArch, string> = { x64: 'x86_64', arm64: 'arm64' };
const WHEEL = 0;

/** Removes everything the package and `heimdall install` put on the Mac (macOS has no package removal). */
export const UNINSTALL_SCRIPT = `#!/bin/sh
# Removes Heimdall: what heimdall install changed, the daemon, the files, and the package receipt.
set -u
[ "$(id -u)" -eq 0 ] || { echo "run as root: sudo $0" >&2; exit 1; }
${DARWIN_EXECUTABLE} uninstall --purge || echo "heimdall uninstall reported a problem (above); removing the files anyway" >&2
launchctl bootout system/${DARWIN_DAEMON_LABEL} 2>/dev/null || true
rm -f ${DARWIN_DAEMON_PLIST} ${DARWIN_HELPER_PLIST} /usr/local/bin/heimdall
rm -rf /Library/Heimdall /Library/Logs/Heimdall
pkgutil --forget ${PKG_IDENTIFIER} >/dev/null 2>&1 || true
echo "Heimdall removed"
`;

/** Stops the running daemon before its files are replaced (an upgrade). */
export const PREINSTALL = `#!/bin/sh
launchctl bootout system/${DARWIN_DAEMON_LABEL} 2>/dev/null || true
exit 0
`;

/**
 * heimdall install (CA, PAC, environment), then the daemon bootstrapped with retries: an MDM install
 * can run while launchd is still busy with the previous job, and bootstrap then fails for a moment.
 * The helper starts in the session of whoever is at the console. Then the status health check.
 */
export const POSTINSTALL = `#!/bin/sh
set -u
# $3: the volume installed on; only the running system's launchd can start anything.
[ "\${3:-/}" = "/" ] || exit 0
mkdir -p /usr/local/bin /Library/Logs/Heimdall
ln -sf ${DARWIN_EXECUTABLE} /usr/local/bin/heimdall
${DARWIN_EXECUTABLE} install --no-start || { echo "heimdall: install failed (above)" >&2; exit 1; }
tries=0
until launchctl bootstrap system ${DARWIN_DAEMON_PLIST} 2>/dev/null || launchctl print system/${DARWIN_DAEMON_LABEL} >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 10 ]; then echo "heimdall: launchd did not start ${DARWIN_DAEMON_LABEL}" >&2; exit 1; fi
  sleep 3
done
console_uid=$(stat -f %u /dev/console 2>/dev/null || echo 0)
if [ "$console_uid" -ne 0 ]; then
  launchctl bootstrap "gui/$console_uid" ${DARWIN_HELPER_PLIST} 2>/dev/null || launchctl kickstart "gui/$console_uid/${DARWIN_HELPER_LABEL}" 2>/dev/null || true
fi
# Health check (docs/deployment/health-checks.md): report, never fail the install for it.
code=3; tries=0
while [ "$tries" -lt 10 ]; do
  code=0; ${DARWIN_EXECUTABLE} status --json >/dev/null 2>&1 || code=$?
  [ "$code" -ne 3 ] && break
  tries=$((tries + 1)); sleep 1
done
echo "heimdall: installed; heimdall status exits $code"
exit 0
`;

interface PayloadItem {
  path: string;
  type: 'file' | 'dir';
  mode: number;
  gid: number;
  data: Uint8Array;
}

function payload(executable: Uint8Array): PayloadItem[] {
  const dir = (p: string): PayloadItem => ({ path: p, type: 'dir', mode: 0o755, gid: WHEEL, data: new Uint8Array() });
  const file = (p: string, mode: number, data: Uint8Array | string): PayloadItem => ({ path: p, type: 'file', mode, gid: WHEEL, data: typeof data === 'string' ? Buffer.from(data) : data });
  return [
    dir('.'),
    dir('./Library'),
    dir('./Library/Heimdall'),
    dir('./Library/Heimdall/bin'),
    file('./Library/Heimdall/bin/heimdall', 0o755, executable),
    file('./Library/Heimdall/bin/heimdall-uninstall', 0o755, UNINSTALL_SCRIPT),
    dir('./Library/LaunchAgents'),
    file(`./Library/LaunchAgents/${DARWIN_HELPER_LABEL}.plist`, 0o644, launchAgentPlist(DARWIN_EXECUTABLE)),
    dir('./Library/LaunchDaemons'),
    file(`./Library/LaunchDaemons/${DARWIN_DAEMON_LABEL}.plist`, 0o644, launchDaemonPlist(DARWIN_EXECUTABLE)),
  ];
}

function cpioEntries(items: readonly PayloadItem[], mtime: number): CpioEntry[] {
  return items.map((i) => ({ name: i.path, mode: (i.type === 'dir' ? S_IFDIR : S_IFREG) | i.mode, uid: 0, gid: i.gid, mtime, data: i.data }));
}

export function packageInfo(version: string, installKBytes: number, numberOfFiles: number): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<pkg-info format-version="2" identifier="${PKG_IDENTIFIER}" version="${version}" install-location="/" auth="root" postinstall-action="none" overwrite-permissions="false" relocatable="false">
  <payload installKBytes="${installKBytes}" numberOfFiles="${numberOfFiles}"/>
  <scripts>
    <preinstall file="./preinstall"/>
    <postinstall file="./postinstall"/>
  </scripts>
  <bundle-version/>
</pkg-info>
`;
}

export function distribution(version: string, arch: PackageArch, installKBytes: number): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<installer-gui-script minSpecVersion="2">
  <title>Heimdall</title>
  <options customize="never" require-scripts="true" rootVolumeOnly="true" hostArchitectures="${HOST_ARCH[arch]}"/>
  <domains enable_localSystem="true" enable_anywhere="false" enable_currentUserHome="false"/>
  <volume-check>
    <allowed-os-versions><os-version min="12.0"/></allowed-os-versions>
  </volume-check>
  <choices-outline>
    <line choice="default">
      <line choice="${PKG_IDENTIFIER}"/>
    </line>
  </choices-outline>
  <choice id="default"/>
  <choice id="${PKG_IDENTIFIER}" visible="false">
    <pkg-ref id="${PKG_IDENTIFIER}"/>
  </choice>
  <pkg-ref id="${PKG_IDENTIFIER}" version="${version}" onConclusion="none" installKBytes="${installKBytes}">#${COMPONENT}</pkg-ref>
</installer-gui-script>
`;
}

export const pkg: PackageFormat = {
  name: 'pkg',
  os: 'darwin',
  arches: ['arm64', 'x64'],
  fileName: (version, arch) => `heimdall-${version}-darwin-${arch}.pkg`,
  async build(input: PackageInput): Promise<string> {
    const items = payload(await readFile(input.executable));
    const mtime = input.sourceDateEpoch;
    const bom: BomEntry[] = items.map((i) => ({ path: i.path, type: i.type, mode: (i.type === 'dir' ? S_IFDIR : S_IFREG) | i.mode, uid: 0, gid: i.gid, mtime, size: i.data.length, checksum: i.type === 'file' ? posixCksum(i.data) : 0 }));
    const installKBytes = Math.ceil(items.reduce((n, i) => n + i.data.length, 0) / 1024);
    const scripts: CpioEntry[] = [
      { name: '.', mode: S_IFDIR | 0o755, uid: 0, gid: WHEEL, mtime, data: new Uint8Array() },
      { name: './postinstall', mode: S_IFREG | 0o755, uid: 0, gid: WHEEL, mtime, data: Buffer.from(POSTINSTALL) },
      { name: './preinstall', mode: S_IFREG | 0o755, uid: 0, gid: WHEEL, mtime, data: Buffer.from(PREINSTALL) },
    ];

    const root = path.resolve(input.workDir, `pkg-${input.arch}`);
    await rm(root, { recursive: true, force: true });
    const component = path.join(root, COMPONENT);
    await mkdir(component, { recursive: true });
    // gzip from zlib carries no name and no time, so the same payload gives the same bytes.
    await writeFile(path.join(component, 'Payload'), gzipSync(writeCpioOdc(cpioEntries(items, mtime)), { level: 9 }));
    await writeFile(path.join(component, 'Scripts'), gzipSync(writeCpioOdc(scripts), { level: 9 }));
    await writeFile(path.join(component, 'Bom'), writeBom(bom));
    await writeFile(path.join(component, 'PackageInfo'), packageInfo(input.version, installKBytes, items.length));
    await writeFile(path.join(root, 'Distribution'), distribution(input.version, input.arch, installKBytes));
    await fixTimes(root, mtime);
    await mkdir(input.outDir, { recursive: true });
    const out = path.resolve(input.outDir, pkg.fileName(input.version, input.arch));
    await rm(out, { force: true });
    // Payload and Scripts are compressed already; Installer reads them stored as they are.
    await run('bsdtar', ['--format', 'xar', '--options', 'xar:compression=none', '--uid', '0', '--gid', '0', '-cf', out, '-C', root, 'Distribution', COMPONENT]);
    return out;
  },
};
