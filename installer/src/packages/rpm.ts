// The .rpm: rpmbuild over the same payload as the .deb, binary only (no build, no strip, no debuginfo).
import { execFile } from 'node:child_process';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { LINUX_EXECUTABLE } from '../../../agent/src/install/index.ts';
import { DESCRIPTION, HEALTH_CHECK_SH, HOMEPAGE, linuxPayload, MAINTAINER, PACKAGE_NAME, RPM_REQUIRES, SUMMARY } from './linux-payload.ts';
import { stagePayload } from './stage.ts';
import type { PackageArch, PackageFormat, PackageInput } from './types.ts';

const run = promisify(execFile);
const RPM_ARCH: Record<PackageArch, string> = { x64: 'x86_64', arm64: 'aarch64' };
export const RPM_RELEASE = '1';

/** $1 counts the versions installed after the step: 1 on first install, 2 on upgrade, 0 on erase. */
export const RPM_POST = `${HEALTH_CHECK_SH}
${LINUX_EXECUTABLE} install || { echo "heimdall: install failed (above); fix it and run: sudo heimdall install" >&2; exit 1; }
heimdall_health_check
`;
export const RPM_PREUN = `if [ "$1" -eq 0 ]; then
  ${LINUX_EXECUTABLE} uninstall || echo "heimdall: uninstall reported a problem (above); removing the package anyway" >&2
fi
`;
// RPM has no purge: erasing the package removes the state too, so nothing is left behind.
export const RPM_POSTUN = `if [ "$1" -eq 0 ]; then
  rm -rf /var/lib/heimdall /run/heimdall
fi
`;

/** RPM changelog dates read "Thu Dec 04 2025". */
function changelogDate(epoch: number): string {
  const [weekday, day, month, year] = new Date(epoch * 1000).toUTCString().replace(',', '').split(' ');
  return `${weekday} ${month} ${day} ${year}`;
}

function spec(input: PackageInput, stage: string, files: string[]): string {
  return `%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none
%global use_source_date_epoch_as_buildtime 1
%global clamp_mtime_to_source_date_epoch 1
%global _buildhost reproducible
Name: ${PACKAGE_NAME}
Version: ${input.version}
Release: ${RPM_RELEASE}
Summary: ${SUMMARY}
License: Apache-2.0
Group: System Environment/Daemons
URL: ${HOMEPAGE}
Packager: ${MAINTAINER}
AutoReqProv: no
${RPM_REQUIRES.map((r) => `Requires: ${r}`).join('\n')}
Requires(post): /bin/sh
Requires(preun): /bin/sh

%description
${DESCRIPTION}

%install
cp -a ${stage}/. %{buildroot}/

%post
${RPM_POST}
%preun
${RPM_PREUN}
%postun
${RPM_POSTUN}
%files
${files.join('\n')}

%changelog
* ${changelogDate(input.sourceDateEpoch)} ${MAINTAINER} - ${input.version}-${RPM_RELEASE}
- Release ${input.version}.
`;
}

export const rpm: PackageFormat = {
  name: 'rpm',
  os: 'linux',
  arches: ['x64', 'arm64'],
  fileName: (version, arch) => `${PACKAGE_NAME}-${version}-${RPM_RELEASE}.${RPM_ARCH[arch]}.rpm`,
  async build(input: PackageInput): Promise<string> {
    const payload = linuxPayload(input.executable, '/usr/lib/systemd/system');
    // RPM distributions want links relative (rpmlint symlink-should-be-relative); Debian wants this one absolute.
    payload.links = payload.links.map((l) => ({ path: l.path, target: path.posix.relative(path.posix.dirname(l.path), l.target) }));
    const top = path.resolve(input.workDir, `rpm-${input.arch}`);
    const stage = path.join(top, 'stage');
    await rm(top, { recursive: true, force: true });
    await stagePayload(stage, payload, input.sourceDateEpoch);
    const files = [
      ...payload.dirs.map((d) => `%dir %attr(0755,root,root) ${d}`),
      ...payload.files.map((f) => `${f.config ? '%config(noreplace) ' : ''}%attr(${f.mode.toString(8).padStart(4, '0')},root,root) ${f.path}`),
      ...payload.links.map((l) => `%attr(-,root,root) ${l.path}`),
    ];
    const specFile = path.join(top, 'heimdall.spec');
    await writeFile(specFile, spec(input, stage, files));
    await run('rpmbuild', ['-bb', '--target', `${RPM_ARCH[input.arch]}-linux`, '--define', `_topdir ${top}`, '--define', '_rpmdir %{_topdir}/RPMS', specFile], {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(input.sourceDateEpoch) },
      maxBuffer: 16 * 1024 * 1024,
    });
    const built = path.join(top, 'RPMS', RPM_ARCH[input.arch]);
    const [name] = await readdir(built);
    if (!name) throw new Error(`rpmbuild produced no package in ${built}`);
    await mkdir(input.outDir, { recursive: true });
    const out = path.join(input.outDir, rpm.fileName(input.version, input.arch));
    await rename(path.join(built, name), out);
    return out;
  },
};
