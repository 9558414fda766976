// macOS: the plan (pure) from facts the executor gathers with networksetup, profiles and security.
// Tested here through the commands it would run; the parsers read recorded tool output.
import { build as buildPlist } from 'plist';
import { claudeCodeManagedEnv, proxyVariables, shellProfile } from './environment.ts';
import {
  DARWIN_DAEMON_LABEL,
  DARWIN_DAEMON_PLIST,
  DARWIN_EXECUTABLE,
  DARWIN_HELPER_PLIST,
  launchAgentPlist,
  launchDaemonPlist,
} from './service-definitions.ts';
import type { Change, CommandChange, InstallPlan, ProxyFacts } from './types.ts';

export interface NetworkServiceProxy {
  name: string;
  /** The auto-proxy (PAC) URL set before install, or null. */
  autoProxyUrl: string | null;
  enabled: boolean;
}

export interface DarwinFacts {
  caPem: string | undefined;
  /** The CA certificate file in the state dir. */
  caFile: string;
  /** SHA-1 of the CA (what `security delete-certificate -Z` takes). */
  caSha1: string | undefined;
  /** An MDM configuration profile already trusts the CA / sets the PAC: install leaves those alone. */
  caDeliveredByMdm: boolean;
  pacDeliveredByMdm: boolean;
  networkServices: NetworkServiceProxy[];
  proxyUrl: string;
  pacUrl: string;
  packagedDaemon: boolean;
  packagedAgent: boolean;
  /** /etc/zshenv before install, or null when absent. */
  zshenv: string | null;
}

const ENV_AGENT_LABEL = 'io.heimdall.agent.environment';
const ENV_AGENT_PLIST = `/Library/LaunchAgents/${ENV_AGENT_LABEL}.plist`;
const SHELL_FILE = '/Library/Heimdall/etc/heimdall-env.sh';
const SYSTEM_KEYCHAIN = '/Library/Keychains/System.keychain';
const ZSHENV_LINE = `[ -r '${SHELL_FILE}' ] && . '${SHELL_FILE}' # heimdall\n`;

export function darwinProxyFacts(facts: Pick<DarwinFacts, 'proxyUrl' | 'pacUrl'>): ProxyFacts {
  return { proxyUrl: facts.proxyUrl, pacUrl: facts.pacUrl, caCertPath: '/var/run/heimdall/ca.pem', caBundlePath: '/var/run/heimdall/ca-bundle.pem' };
}

/** `networksetup -listallnetworkservices`: the first line explains the asterisk; starred services are disabled. */
export function parseNetworkServices(output: string): string[] {
  return output.split('\n').slice(1).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('*'));
}

/** `networksetup -getautoproxyurl SERVICE`: "URL: <url or (null)>" and "Enabled: Yes|No". */
export function parseAutoProxyUrl(name: string, output: string): NetworkServiceProxy {
  const url = /^URL:\s*(.*)$/m.exec(output)?.[1]?.trim();
  const enabled = /^Enabled:\s*Yes/m.test(output);
  return { name, autoProxyUrl: url && url !== '(null)' ? url : null, enabled };
}

function pacUndo(s: NetworkServiceProxy): string[] {
  // Put back what was there: the old URL (and its state), or switch the auto proxy off.
  if (s.autoProxyUrl === null) return ['networksetup', '-setautoproxystate', s.name, 'off'];
  return ['/bin/sh', '-c', `networksetup -setautoproxyurl "$1" "$2" && networksetup -setautoproxystate "$1" ${s.enabled ? 'on' : 'off'}`, 'heimdall-undo', s.name, s.autoProxyUrl];
}

export function planDarwin(facts: DarwinFacts): InstallPlan {
  const changes: Change[] = [];
  const services: CommandChange[] = [];
  const notes: string[] = [];
  const proxy = darwinProxyFacts(facts);

  if (!facts.packagedDaemon) changes.push({ kind: 'file', path: DARWIN_DAEMON_PLIST, content: launchDaemonPlist(DARWIN_EXECUTABLE), mode: 0o644, why: 'the LaunchDaemon (no package shipped one)' });
  if (!facts.packagedAgent) changes.push({ kind: 'file', path: DARWIN_HELPER_PLIST, content: launchAgentPlist(DARWIN_EXECUTABLE), mode: 0o644, why: 'the per-user helper LaunchAgent' });

  if (facts.caPem === undefined) {
    notes.push('the CA is held by the gateway (ca_mode gateway): deliver it with a configuration profile');
  } else if (facts.caDeliveredByMdm) {
    notes.push('an MDM profile already trusts the CA: left to the profile');
  } else {
    changes.push({
      kind: 'command',
      run: ['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', SYSTEM_KEYCHAIN, facts.caFile],
      undo: ['security', 'delete-certificate', '-Z', facts.caSha1 ?? '', '-t', SYSTEM_KEYCHAIN],
      scope: 'live',
      why: "trust Heimdall's CA in the System keychain",
    });
  }

  if (facts.pacDeliveredByMdm) {
    notes.push('an MDM profile already sets the PAC: left to the profile');
  } else {
    for (const s of facts.networkServices) {
      changes.push({ kind: 'command', run: ['networksetup', '-setautoproxyurl', s.name, facts.pacUrl], undo: pacUndo(s), scope: 'live', why: `GUI apps on "${s.name}" use Heimdall's PAC` });
    }
  }

  changes.push({ kind: 'file', path: SHELL_FILE, content: shellProfile(proxy), mode: 0o644, why: 'proxy and CA variables for shells' });
  changes.push({ kind: 'file', path: '/etc/zshenv', content: `${facts.zshenv ?? ''}${facts.zshenv && !facts.zshenv.endsWith('\n') ? '\n' : ''}${ZSHENV_LINE}`, mode: 0o644, why: 'every zsh (the default shell) reads the variables' });
  const setenv = proxyVariables(proxy).map(([k, v]) => `/bin/launchctl setenv ${k} '${v}'`).join('; ');
  changes.push({
    kind: 'file',
    path: ENV_AGENT_PLIST,
    content: buildPlist({ Label: ENV_AGENT_LABEL, ProgramArguments: ['/bin/sh', '-c', setenv], RunAtLoad: true }),
    mode: 0o644,
    why: 'the launchd user environment: apps started from the Dock and Finder get the variables',
  });
  changes.push({ kind: 'file', path: '/Library/Application Support/ClaudeCode/managed-settings.d/heimdall-proxy.json', content: claudeCodeManagedEnv(proxy), mode: 0o644, why: "Claude Code's managed settings" });

  services.push({
    kind: 'command',
    // Bootstrapping an already-loaded daemon fails; bootout first (ignored when not loaded) makes it a restart.
    run: ['/bin/sh', '-c', `launchctl bootout system/${DARWIN_DAEMON_LABEL} 2>/dev/null; launchctl bootstrap system ${DARWIN_DAEMON_PLIST}`],
    undo: ['launchctl', 'bootout', `system/${DARWIN_DAEMON_LABEL}`],
    scope: 'live',
    why: 'start the daemon now',
  });
  return { platform: 'darwin', changes, refreshes: [], services, notes };
}

/** `scutil --proxy`: the PAC URL the system uses now (an MDM profile's or the user's). */
export function parseScutilPacUrl(output: string): string | undefined {
  return /ProxyAutoConfigURLString\s*:\s*(\S+)/.exec(output)?.[1];
}

type Run = (argv: readonly string[]) => Promise<{ code: number; stdout: string }>;

/** Reads what the plan needs from the running Mac (thin: each answer goes through a parser above). */
export async function gatherDarwinFacts(run: Run, base: Pick<DarwinFacts, 'caPem' | 'caFile' | 'caSha1' | 'proxyUrl' | 'pacUrl' | 'packagedDaemon' | 'packagedAgent' | 'zshenv'>): Promise<DarwinFacts> {
  const names = parseNetworkServices((await run(['networksetup', '-listallnetworkservices'])).stdout);
  const networkServices: NetworkServiceProxy[] = [];
  for (const name of names) networkServices.push(parseAutoProxyUrl(name, (await run(['networksetup', '-getautoproxyurl', name])).stdout));
  const keychain = base.caSha1 ? (await run(['security', 'find-certificate', '-a', '-Z', SYSTEM_KEYCHAIN])).stdout : '';
  const systemPac = parseScutilPacUrl((await run(['scutil', '--proxy'])).stdout);
  return {
    ...base,
    networkServices,
    // Already in the System keychain before install: a configuration profile put it there.
    caDeliveredByMdm: base.caSha1 !== undefined && keychain.toUpperCase().includes(base.caSha1.toUpperCase()),
    pacDeliveredByMdm: systemPac === base.pacUrl && networkServices.every((s) => s.autoProxyUrl !== base.pacUrl),
  };
}
