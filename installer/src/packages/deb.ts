// The .deb: dpkg-deb over a staged tree with control files written here.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { LINUX_EXECUTABLE } from '../../../agent/src/install/index.ts';
import { DEB_DEPENDS, DESCRIPTION, gzipBest, HEALTH_CHECK_SH, HOMEPAGE, linuxPayload, MAINTAINER, PACKAGE_NAME, SUMMARY } from './linux-payload.ts';
import { fixTimes, stagePayload } from './stage.ts';
import type { PackageArch, PackageFormat, PackageInput, PayloadFile } from './types.ts';

const run = promisify(execFile);
const DEB_ARCH: Record<PackageArch, string> = { x64: 'amd64', arm64: 'arm64' };

/** configure: `heimdall install` (also on upgrade: it keeps the first install's record and restarts the service). */
export const DEB_POSTINST = `#!/bin/sh
set -e
${HEALTH_CHECK_SH}
case "$1" in
  configure)
    ${LINUX_EXECUTABLE} install
    heimdall_health_check
    ;;
  abort-upgrade|abort-remove|abort-deconfigure) ;;
esac
exit 0
`;

/** remove: `heimdall uninstall` while the binary is still there; an upgrade keeps everything for the new postinst. */
export const DEB_PRERM = `#!/bin/sh
set -e
case "$1" in
  remove|deconfigure)
    ${LINUX_EXECUTABLE} uninstall || echo "heimdall: uninstall reported a problem (above); removing the package anyway" >&2
    ;;
  upgrade|failed-upgrade) ;;
esac
exit 0
`;

/** purge: the state (CA key, device id, database) and the runtime folder; dpkg removes the conffile itself. */
export const DEB_POSTRM = `#!/bin/sh
set -e
case "$1" in
  purge)
    rm -rf /var/lib/heimdall /run/heimdall
    ;;
  remove|upgrade|failed-upgrade|abort-install|abort-upgrade|disappear) ;;
esac
# No package owns /opt (FHS puts it on every system), so dpkg removes it with the last package that
# shipped a file there; put it back as it was.
if [ "$1" = remove ] || [ "$1" = purge ]; then
  [ -d /opt ] || mkdir -m 0755 /opt
fi
exit 0
`;

function controlFile(version: string, arch: PackageArch, installedKb: number): string {
  return [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${version}`,
    `Architecture: ${DEB_ARCH[arch]}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKb}`,
    `Depends: ${DEB_DEPENDS}`,
    'Recommends: ca-certificates, libnss3-tools',
    'Section: net',
    'Priority: optional',
    `Homepage: ${HOMEPAGE}`,
    `Description: ${SUMMARY}`,
    ...DESCRIPTION.split('\n').map((l) => ` ${l}`),
    '',
  ].join('\n');
}

function changelog(version: string, epoch: number): string {
  const date = new Date(epoch * 1000).toUTCString().replace('GMT', '+0000');
  return `${PACKAGE_NAME} (${version}) unstable; urgency=medium\n\n  * Release ${version}.\n\n -- ${MAINTAINER}  ${date}\n`;
}

async function sizeOf(file: PayloadFile): Promise<number> {
  if (typeof file.content === 'object' && 'from' in file.content) return (await stat(file.content.from)).size;
  return Buffer.byteLength(file.content);
}

export const deb: PackageFormat = {
  name: 'deb',
  os: 'linux',
  arches: ['x64', 'arm64'],
  fileName: (version, arch) => `${PACKAGE_NAME}_${version}_${DEB_ARCH[arch]}.deb`,
  async build(input: PackageInput): Promise<string> {
    const payload = linuxPayload(input.executable, '/lib/systemd/system');
    // A version without a Debian revision makes this a native package: its changelog is changelog.gz.
    payload.files.push({ path: '/usr/share/doc/heimdall/changelog.gz', mode: 0o644, content: gzipBest(changelog(input.version, input.sourceDateEpoch)) });
    const root = path.join(input.workDir, `deb-${input.arch}`);
    await stagePayload(root, payload, input.sourceDateEpoch);
    const control = path.join(root, 'DEBIAN');
    await mkdir(control, { mode: 0o755 });
    let bytes = 0;
    const sums: string[] = [];
    for (const f of payload.files) {
      bytes += await sizeOf(f);
      if (!f.config) sums.push(`${createHash('md5').update(await readFile(path.join(root, f.path))).digest('hex')}  ${f.path.slice(1)}`);
    }
    const controlFiles: [string, string, number][] = [
      ['control', controlFile(input.version, input.arch, Math.ceil(bytes / 1024)), 0o644],
      ['conffiles', payload.files.filter((f) => f.config).map((f) => `${f.path}\n`).join(''), 0o644],
      ['md5sums', `${sums.sort((a, b) => a.slice(34).localeCompare(b.slice(34))).join('\n')}\n`, 0o644],
      ['postinst', DEB_POSTINST, 0o755],
      ['prerm', DEB_PRERM, 0o755],
      ['postrm', DEB_POSTRM, 0o755],
    ];
    for (const [name, text, mode] of controlFiles) {
      await writeFile(path.join(control, name), text);
      await chmod(path.join(control, name), mode);
    }
    await fixTimes(root, input.sourceDateEpoch);
    await mkdir(input.outDir, { recursive: true });
    const out = path.join(input.outDir, deb.fileName(input.version, input.arch));
    await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, out], { env: { ...process.env, SOURCE_DATE_EPOCH: String(input.sourceDateEpoch) } });
    return out;
  },
};
