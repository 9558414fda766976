// Windows: the plan (pure) from facts the executor gathers with `reg query` and `netsh`; tested
// here through the commands it would run.
import { claudeCodeManagedEnv, proxyVariables } from './environment.ts';
import { HELPER_ARGS, WINDOWS_EXECUTABLE, WINDOWS_RUN_VALUE, WINDOWS_SERVICE_NAME } from './service-definitions.ts';
import type { Change, CommandChange, InstallPlan, ProxyFacts } from './types.ts';

export const MACHINE_ENVIRONMENT_KEY = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment';
export const INTERNET_SETTINGS_KEY = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Internet Settings';
export const INTERNET_SETTINGS_POLICY_KEY = 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings';
export const RUN_KEY = 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run';
const PUBLIC_DIR = 'C:\\ProgramData\\Heimdall\\public';

export interface WindowsFacts {
  caPem: string | undefined;
  caFile: string;
  /** SHA-1 thumbprint, what `certutil -delstore Root` takes. */
  caSha1: string | undefined;
  proxyUrl: string;
  pacUrl: string;
  /** Values before install (absent: undefined), read with `reg query`. */
  previous: {
    autoConfigUrl: string | undefined;
    proxySettingsPerUser: string | undefined;
    environment: Readonly<Record<string, string | undefined>>;
  };
  /** `netsh winhttp show proxy` said "Direct access" before install. */
  winhttpDirect: boolean;
  /** The MSI registered the service and the Run value itself. */
  packaged: boolean;
}

export function windowsProxyFacts(facts: Pick<WindowsFacts, 'proxyUrl' | 'pacUrl'>): ProxyFacts {
  return { proxyUrl: facts.proxyUrl, pacUrl: facts.pacUrl, caCertPath: `${PUBLIC_DIR}\\ca.pem`, caBundlePath: `${PUBLIC_DIR}\\ca-bundle.pem` };
}

/** Sets a registry value; the undo puts the previous value back or deletes the one added. */
function registryValue(key: string, name: string, type: 'REG_SZ' | 'REG_DWORD', data: string, previous: string | undefined, why: string): CommandChange {
  return {
    kind: 'command',
    run: ['reg.exe', 'add', key, '/v', name, '/t', type, '/d', data, '/f'],
    undo: previous === undefined ? ['reg.exe', 'delete', key, '/v', name, '/f'] : ['reg.exe', 'add', key, '/v', name, '/t', type, '/d', previous, '/f'],
    scope: 'live',
    why,
  };
}

export function planWindows(facts: WindowsFacts): InstallPlan {
  const changes: Change[] = [];
  const services: CommandChange[] = [];
  const notes: string[] = [];
  const proxy = windowsProxyFacts(facts);

  if (!facts.packaged) {
    changes.push({ kind: 'command', run: ['sc.exe', 'create', WINDOWS_SERVICE_NAME, 'binPath=', `"${WINDOWS_EXECUTABLE}" run`, 'start=', 'auto', 'obj=', 'LocalSystem', 'DisplayName=', 'Heimdall'], undo: ['sc.exe', 'delete', WINDOWS_SERVICE_NAME], scope: 'live', why: 'register the service (no MSI did)' });
    changes.push({ kind: 'command', run: ['sc.exe', 'failure', WINDOWS_SERVICE_NAME, 'reset=', '86400', 'actions=', 'restart/5000/restart/5000/restart/30000'], undo: null, scope: 'live', why: 'restart the service when it fails' });
    changes.push(registryValue(RUN_KEY, WINDOWS_RUN_VALUE, 'REG_SZ', `"${WINDOWS_EXECUTABLE}" ${HELPER_ARGS.join(' ')}`, undefined, 'sign the person in at their first desktop sign-in (heimdall login --if-needed)'));
  }
  if (facts.caPem === undefined) {
    notes.push('the CA is held by the gateway (ca_mode gateway): deliver it with Intune or Group Policy');
  } else {
    changes.push({ kind: 'command', run: ['certutil.exe', '-addstore', '-f', 'Root', facts.caFile], undo: ['certutil.exe', '-delstore', 'Root', facts.caSha1 ?? ''], scope: 'live', why: "trust Heimdall's CA (LocalMachine Root)" });
  }
  // One machine-wide PAC for every user: ProxySettingsPerUser=0 makes the HKLM AutoConfigURL apply.
  changes.push(registryValue(INTERNET_SETTINGS_POLICY_KEY, 'ProxySettingsPerUser', 'REG_DWORD', '0', facts.previous.proxySettingsPerUser, 'one proxy setting for the whole machine'));
  changes.push(registryValue(INTERNET_SETTINGS_KEY, 'AutoConfigURL', 'REG_SZ', facts.pacUrl, facts.previous.autoConfigUrl, "GUI apps use Heimdall's PAC"));
  const hostPort = new URL(facts.proxyUrl).host;
  changes.push({
    kind: 'command',
    run: ['netsh.exe', 'winhttp', 'set', 'proxy', `proxy-server=${hostPort}`, 'bypass-list=localhost;127.0.0.1;<local>'],
    undo: facts.winhttpDirect ? ['netsh.exe', 'winhttp', 'reset', 'proxy'] : null,
    scope: 'live',
    why: 'WinHTTP services (which ignore the PAC) use the proxy',
  });
  if (!facts.winhttpDirect) notes.push('WinHTTP already had a proxy; uninstall leaves the one Heimdall set: restore yours with `netsh winhttp set proxy`');
  for (const [name, value] of proxyVariables(proxy)) {
    // Windows environment names are case-insensitive: the lower-case twins would overwrite the upper-case ones.
    if (name !== name.toUpperCase()) continue;
    changes.push(registryValue(MACHINE_ENVIRONMENT_KEY, name, 'REG_SZ', value, facts.previous.environment[name], `${name} for every process (system environment)`));
  }
  changes.push({ kind: 'file', path: 'C:\\Program Files\\ClaudeCode\\managed-settings.d\\heimdall-proxy.json', content: claudeCodeManagedEnv(proxy), mode: 0o644, why: "Claude Code's managed settings" });
  // The MSI starts, stops and removes its own service (ServiceControl); a by-hand install does it here.
  if (!facts.packaged) services.push({ kind: 'command', run: ['sc.exe', 'start', WINDOWS_SERVICE_NAME], undo: ['sc.exe', 'stop', WINDOWS_SERVICE_NAME], scope: 'live', why: 'start the service now' });
  return { platform: 'win32', changes, refreshes: [], services, notes };
}

/** One value from `reg query KEY /v NAME` output, or undefined when absent. */
export function parseRegValue(output: string, name: string): string | undefined {
  for (const line of output.split(/\r?\n/)) {
    const m = /^\s+(\S+)\s+(REG_\w+)\s+(.*)$/.exec(line);
    if (m && m[1]!.toLowerCase() === name.toLowerCase()) return m[2] === 'REG_DWORD' ? String(Number(m[3]!.trim())) : m[3]!.trim();
  }
  return undefined;
}

/** `netsh winhttp show proxy` prints "Direct access (no proxy server)." when WinHTTP has no proxy. */
export function parseWinhttpDirect(output: string): boolean {
  return /Direct access/i.test(output);
}

type Run = (argv: readonly string[]) => Promise<{ code: number; stdout: string }>;

export async function gatherWindowsFacts(run: Run, base: Pick<WindowsFacts, 'caPem' | 'caFile' | 'caSha1' | 'proxyUrl' | 'pacUrl'>, variableNames: readonly string[]): Promise<WindowsFacts> {
  const query = async (key: string, name: string): Promise<string | undefined> => parseRegValue((await run(['reg.exe', 'query', key, '/v', name])).stdout, name);
  const environment: Record<string, string | undefined> = {};
  for (const name of variableNames) environment[name] = await query(MACHINE_ENVIRONMENT_KEY, name);
  return {
    ...base,
    previous: {
      autoConfigUrl: await query(INTERNET_SETTINGS_KEY, 'AutoConfigURL'),
      proxySettingsPerUser: await query(INTERNET_SETTINGS_POLICY_KEY, 'ProxySettingsPerUser'),
      environment,
    },
    winhttpDirect: parseWinhttpDirect((await run(['netsh.exe', 'winhttp', 'show', 'proxy'])).stdout),
    // The MSI creates the service; a by-hand install finds none.
    packaged: (await run(['sc.exe', 'query', WINDOWS_SERVICE_NAME])).code === 0,
  };
}
