// The service and helper definitions each OS starts Heimdall with, in one place: the packages ship
// these files and `heimdall install` writes them when no package did.
import { build as buildPlist } from 'plist';

export const LINUX_EXECUTABLE = '/opt/heimdall/bin/heimdall';
export const LINUX_UNIT_NAME = 'heimdall.service';
export const DARWIN_EXECUTABLE = '/Library/Heimdall/bin/heimdall';
export const DARWIN_DAEMON_LABEL = 'io.heimdall.agent';
export const DARWIN_HELPER_LABEL = 'io.heimdall.agent.helper';
export const DARWIN_DAEMON_PLIST = `/Library/LaunchDaemons/${DARWIN_DAEMON_LABEL}.plist`;
export const DARWIN_HELPER_PLIST = `/Library/LaunchAgents/${DARWIN_HELPER_LABEL}.plist`;
export const WINDOWS_EXECUTABLE = 'C:\\Program Files\\Heimdall\\heimdall.exe';
export const WINDOWS_SERVICE_NAME = 'Heimdall';
export const WINDOWS_RUN_VALUE = 'HeimdallHelper';
/**
 * What the per-user entry (XDG autostart, LaunchAgent, Run key) runs at each sign-in to the desktop:
 * nothing when the person is signed in to the gateway, one browser tab to the organization's
 * sign-in when not, never a prompt (docs/configuration.md, "First run").
 */
export const HELPER_ARGS = ['login', '--if-needed'] as const;

/**
 * The systemd unit. Hardening that leaves the proxy working (see docs/deployment/packages.md for the
 * reasons each protection is or is not here):
 * - no ProtectHome: MCP enforcement edits files in users' homes (quarantined entries);
 * - ProtectSystem=true, not full/strict: the MCP room writes apps' managed policies under /etc
 *   (/etc/claude-code, /etc/codex, /etc/gemini-cli, /etc/vscode);
 * - no ProtectProc=invisible: identification reads /proc/PID/fd of every user's processes;
 * - no MemoryDenyWriteExecute: V8's JIT needs writable executable memory;
 * - AF_NETLINK stays: the sock_diag lookup of the client socket is a netlink query.
 * Capabilities: CHOWN/FOWNER/DAC_* to write users' MCP files keeping their owner, SYS_PTRACE to read
 * other users' /proc/PID/fd, NET_BIND_SERVICE for an admin who sets a proxy_port below 1024.
 */
export function systemdUnit(executable: string = LINUX_EXECUTABLE): string {
  return `[Unit]
Description=Heimdall endpoint agent (routes AI apps through the organization's AI gateway)
Documentation=man:heimdall(1)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${executable} run
Restart=always
RestartSec=2
TimeoutStopSec=20
StateDirectory=heimdall
StateDirectoryMode=0700
RuntimeDirectory=heimdall
RuntimeDirectoryMode=0755
UMask=0077
NoNewPrivileges=yes
ProtectSystem=true
PrivateTmp=yes
PrivateDevices=yes
ProtectClock=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_SYS_PTRACE CAP_NET_BIND_SERVICE

[Install]
WantedBy=multi-user.target
`;
}

/** The XDG autostart entry that starts the per-user helper in every desktop session. */
export function xdgAutostartEntry(executable: string = LINUX_EXECUTABLE): string {
  return `[Desktop Entry]
Type=Application
Name=Heimdall helper
Comment=Signs you in to your organization's AI gateway when you are not (one browser tab, never a prompt)
TryExec=${executable}
Exec=${executable} ${HELPER_ARGS.join(' ')}
Icon=security-high
Terminal=false
NoDisplay=true
X-GNOME-Autostart-enabled=true
`;
}

/** The LaunchDaemon: always running, started at boot, restarted no faster than every 10 s. */
export function launchDaemonPlist(executable: string = DARWIN_EXECUTABLE): string {
  return buildPlist({
    Label: DARWIN_DAEMON_LABEL,
    ProgramArguments: [executable, 'run'],
    RunAtLoad: true,
    KeepAlive: true,
    ThrottleInterval: 10,
    ProcessType: 'Interactive',
    StandardOutPath: '/Library/Logs/Heimdall/heimdall.log',
    StandardErrorPath: '/Library/Logs/Heimdall/heimdall.log',
  });
}

/** The per-user LaunchAgent: `login --if-needed` runs once in each person's GUI session. */
export function launchAgentPlist(executable: string = DARWIN_EXECUTABLE): string {
  return buildPlist({
    Label: DARWIN_HELPER_LABEL,
    ProgramArguments: [executable, ...HELPER_ARGS],
    RunAtLoad: true,
    LimitLoadToSessionType: ['Aqua'],
  });
}
