// What the .deb and the .rpm put on a Linux machine, and the maintainer scripts both run: one list,
// so the two formats cannot drift apart.
import { gzipSync } from 'node:zlib';
import { LINUX_EXECUTABLE, LINUX_UNIT_NAME, systemdUnit, xdgAutostartEntry } from '../../../agent/src/install/index.ts';
import type { PayloadFile, PayloadLink } from './types.ts';

export const PACKAGE_NAME = 'heimdall';
export const SUMMARY = 'Endpoint agent that routes AI apps through the organization\'s AI gateway';
export const DESCRIPTION = `Heimdall runs as a system service with a local TLS proxy. It sends the
traffic of AI apps (Claude Code, Codex, Gemini CLI, SDKs, browsers) to
the organization's AI gateway, applies the organization's app and MCP
server policy, and reports to the gateway's control plane.`;
export const MAINTAINER = 'Heimdall maintainers <heimdall@example.com>';
export const HOMEPAGE = 'https://github.com/heimdall-ai/heimdall';
export const MANAGED_CONFIG = '/etc/heimdall/config.json';

const MAN_PAGE = `.TH HEIMDALL 1
.SH NAME
heimdall \\- endpoint agent for an organization's AI gateway
.SH SYNOPSIS
.B heimdall
.I command
.RI [ options ]
.SH DESCRIPTION
The heimdall service (heimdall.service) routes AI apps through the organization's AI gateway.
.B heimdall status
says whether AI traffic is governed;
.B heimdall help
lists every command.
.SH FILES
/etc/heimdall/config.json (managed configuration), /var/lib/heimdall (state)
`;

const COPYRIGHT = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: heimdall
Source: ${HOMEPAGE}

Files: *
Copyright: 2025-2026 Heimdall contributors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
`;

/** gzip with no name and no time in the header, so the bytes depend only on the text. */
export function gzipBest(text: string): Uint8Array {
  return gzipSync(text, { level: 9 });
}

/** The Node runtime inside the executable links these (ldd of the official Linux binaries). */
export const DEB_DEPENDS = 'libc6 (>= 2.28), libgcc-s1, libstdc++6';
/** The same libraries by soname, as RPM distributions name them (both targets are 64-bit). */
export const RPM_REQUIRES = ['libc.so.6()(64bit)', 'libdl.so.2()(64bit)', 'libgcc_s.so.1()(64bit)', 'libm.so.6()(64bit)', 'libpthread.so.0()(64bit)', 'libstdc++.so.6()(64bit)'];

/**
 * The files. `unitDir`: Debian keeps packaged units in /lib/systemd/system; Fedora and openSUSE in
 * /usr/lib/systemd/system (their /lib is a symlink the filesystem package owns).
 */
export function linuxPayload(executable: string, unitDir: '/lib/systemd/system' | '/usr/lib/systemd/system'): { files: PayloadFile[]; links: PayloadLink[]; dirs: string[] } {
  return {
    dirs: ['/opt/heimdall', '/opt/heimdall/bin', '/etc/heimdall'],
    files: [
      { path: LINUX_EXECUTABLE, mode: 0o755, content: { from: executable } },
      { path: `${unitDir}/${LINUX_UNIT_NAME}`, mode: 0o644, content: systemdUnit(LINUX_EXECUTABLE) },
      // Under /etc, so a conffile (Debian policy); its TryExec makes desktops skip it once the package is removed.
      { path: '/etc/xdg/autostart/heimdall-helper.desktop', mode: 0o644, content: xdgAutostartEntry(LINUX_EXECUTABLE), config: true },
      // An empty object: the admin (or the MDM's script) sets gateway_url; `heimdall status` exits 8 until then.
      { path: MANAGED_CONFIG, mode: 0o644, content: '{}\n', config: true },
      { path: '/usr/share/man/man1/heimdall.1.gz', mode: 0o644, content: gzipBest(MAN_PAGE) },
      { path: '/usr/share/doc/heimdall/copyright', mode: 0o644, content: COPYRIGHT },
    ],
    links: [{ path: '/usr/bin/heimdall', target: LINUX_EXECUTABLE }],
  };
}

/**
 * The health check both formats run after install: the `heimdall status` exit codes
 * (docs/deployment/health-checks.md). It reports and never fails the install: a machine whose
 * gateway_url is not set yet (8) or whose user has not signed in (4) is a normal first install.
 */
export const HEALTH_CHECK_SH = `heimdall_health_check() {
  [ -d /run/systemd/system ] || return 0
  code=3; tries=0
  # The daemon needs a moment to open its socket after systemctl restart.
  while [ "$tries" -lt 10 ]; do
    code=0; ${LINUX_EXECUTABLE} status --json >/dev/null 2>&1 || code=$?
    [ "$code" -ne 3 ] && break
    tries=$((tries + 1)); sleep 1
  done
  case "$code" in
    0) echo "heimdall: AI traffic on this machine is governed" ;;
    3) echo "heimdall: the service did not answer; see: journalctl -u heimdall" ;;
    8) echo "heimdall: installed; set gateway_url in ${MANAGED_CONFIG} to start governing AI traffic" ;;
    *) echo "heimdall: installed; heimdall status exits $code (run heimdall status for why)" ;;
  esac
}
`;
