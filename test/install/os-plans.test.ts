import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parsePlist } from 'plist';
import { describe, expect, it } from 'vitest';
import {
  MACHINE_ENVIRONMENT_KEY,
  INTERNET_SETTINGS_KEY,
  RUN_KEY,
  parseAutoProxyUrl,
  parseNetworkServices,
  parseRegValue,
  parseScutilPacUrl,
  parseWinhttpDirect,
  planDarwin,
  planWindows,
  type CommandChange,
  type DarwinFacts,
  type InstallPlan,
  type WindowsFacts,
} from '../../agent/src/install/index.ts';
import { buildProxyEnvironment } from '../../agent/src/intercept/index.ts';

const fixture = (name: string): string => readFileSync(path.join(import.meta.dirname, '../fixtures/install', name), 'utf8');
const commands = (plan: InstallPlan): CommandChange[] => plan.changes.filter((c): c is CommandChange => c.kind === 'command');

describe('macOS install plan', () => {
  const services = parseNetworkServices(fixture('networksetup-listallnetworkservices.txt'));
  const base: DarwinFacts = {
    caPem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
    caFile: '/Library/Application Support/Heimdall/ca.pem',
    caSha1: 'AB12',
    caDeliveredByMdm: false,
    pacDeliveredByMdm: false,
    networkServices: [
      parseAutoProxyUrl('Wi-Fi', fixture('networksetup-getautoproxyurl-set.txt')),
      parseAutoProxyUrl('USB 10/100/1000 LAN', fixture('networksetup-getautoproxyurl-unset.txt')),
    ],
    proxyUrl: 'http://127.0.0.1:7420',
    pacUrl: 'http://127.0.0.1:7420/proxy.pac',
    packagedDaemon: true,
    packagedAgent: true,
    zshenv: '# system zshenv\n',
  };

  it('reads enabled network services and their PAC settings from networksetup output', () => {
    expect(services).toEqual(['Wi-Fi', 'Thunderbolt Bridge', 'USB 10/100/1000 LAN']);
    expect(base.networkServices).toEqual([
      { name: 'Wi-Fi', autoProxyUrl: 'http://wpad.corp.example/proxy.pac', enabled: true },
      { name: 'USB 10/100/1000 LAN', autoProxyUrl: null, enabled: false },
    ]);
    expect(parseScutilPacUrl(fixture('scutil-proxy-mdm.txt'))).toBe('http://127.0.0.1:7420/proxy.pac');
  });

  it('trusts the CA in the System keychain, sets the PAC per service and undoes each to what was there', () => {
    const cmds = commands(planDarwin(base));
    expect(cmds[0]).toMatchObject({
      run: ['security', 'add-trusted-cert', '-d', '-r', 'trustRoot', '-k', '/Library/Keychains/System.keychain', base.caFile],
      undo: ['security', 'delete-certificate', '-Z', 'AB12', '-t', '/Library/Keychains/System.keychain'],
    });
    expect(cmds[1]).toMatchObject({ run: ['networksetup', '-setautoproxyurl', 'Wi-Fi', base.pacUrl] });
    // The old PAC comes back, with its on/off state.
    expect(cmds[1]!.undo).toEqual(['/bin/sh', '-c', 'networksetup -setautoproxyurl "$1" "$2" && networksetup -setautoproxystate "$1" on', 'heimdall-undo', 'Wi-Fi', 'http://wpad.corp.example/proxy.pac']);
    expect(cmds[2]).toMatchObject({ run: ['networksetup', '-setautoproxyurl', 'USB 10/100/1000 LAN', base.pacUrl], undo: ['networksetup', '-setautoproxystate', 'USB 10/100/1000 LAN', 'off'] });
  });

  it('leaves the CA and the PAC to an MDM profile that already delivers them', () => {
    const plan = planDarwin({ ...base, caDeliveredByMdm: true, pacDeliveredByMdm: true });
    expect(commands(plan)).toEqual([]);
    expect(plan.notes).toEqual(['an MDM profile already trusts the CA: left to the profile', 'an MDM profile already sets the PAC: left to the profile']);
  });

  it('gives GUI apps and zsh the variables of heimdall env, and bootstraps the daemon', () => {
    const plan = planDarwin(base);
    const envAgent = plan.changes.find((c) => c.kind === 'file' && c.path === '/Library/LaunchAgents/io.heimdall.agent.environment.plist');
    const script = (parsePlist(envAgent?.kind === 'file' ? envAgent.content : '') as { ProgramArguments: string[] }).ProgramArguments[2]!;
    const expected = buildProxyEnvironment({ proxyUrl: base.proxyUrl, caCertPath: '/var/run/heimdall/ca.pem', caBundlePath: '/var/run/heimdall/ca-bundle.pem' });
    for (const [k, v] of expected) expect(script).toContain(`/bin/launchctl setenv ${k} '${v}'`);
    const zshenv = plan.changes.find((c) => c.kind === 'file' && c.path === '/etc/zshenv');
    expect(zshenv?.kind === 'file' && zshenv.content.startsWith('# system zshenv\n')).toBe(true);
    expect(plan.services[0]!.run).toEqual(['/bin/sh', '-c', 'launchctl bootout system/io.heimdall.agent 2>/dev/null; launchctl bootstrap system /Library/LaunchDaemons/io.heimdall.agent.plist']);
    expect(plan.services[0]!.undo).toEqual(['launchctl', 'bootout', 'system/io.heimdall.agent']);
  });

  it('writes the LaunchDaemon itself when no package shipped it', () => {
    const plan = planDarwin({ ...base, packagedDaemon: false, packagedAgent: false });
    const paths = plan.changes.filter((c) => c.kind === 'file').map((c) => c.kind === 'file' && c.path);
    expect(paths).toContain('/Library/LaunchDaemons/io.heimdall.agent.plist');
    expect(paths).toContain('/Library/LaunchAgents/io.heimdall.agent.helper.plist');
  });
});

describe('Windows install plan', () => {
  const base: WindowsFacts = {
    caPem: 'pem',
    caFile: 'C:\\ProgramData\\Heimdall\\ca.pem',
    caSha1: 'AB12',
    proxyUrl: 'http://127.0.0.1:7420',
    pacUrl: 'http://127.0.0.1:7420/proxy.pac',
    previous: {
      autoConfigUrl: parseRegValue(fixture('reg-query-autoconfigurl.txt'), 'AutoConfigURL'),
      proxySettingsPerUser: parseRegValue(fixture('reg-query-proxysettingsperuser.txt'), 'ProxySettingsPerUser'),
      environment: { NO_PROXY: 'corp.example' },
    },
    winhttpDirect: parseWinhttpDirect(fixture('netsh-winhttp-direct.txt')),
    packaged: true,
  };

  it('reads previous values from reg query and netsh output', () => {
    expect(base.previous.autoConfigUrl).toBe('http://wpad.corp.example/proxy.pac');
    expect(base.previous.proxySettingsPerUser).toBe('1');
    expect(base.winhttpDirect).toBe(true);
  });

  it('trusts the CA in LocalMachine Root, sets the PAC and WinHTTP, and undoes each to the previous value', () => {
    const cmds = commands(planWindows(base));
    const byRun = (needle: string): CommandChange | undefined => cmds.find((c) => c.run.join(' ').includes(needle));
    expect(byRun('-addstore')).toMatchObject({ run: ['certutil.exe', '-addstore', '-f', 'Root', base.caFile], undo: ['certutil.exe', '-delstore', 'Root', 'AB12'] });
    expect(byRun('AutoConfigURL')?.undo).toEqual(['reg.exe', 'add', INTERNET_SETTINGS_KEY, '/v', 'AutoConfigURL', '/t', 'REG_SZ', '/d', 'http://wpad.corp.example/proxy.pac', '/f']);
    expect(byRun('ProxySettingsPerUser')?.undo).toEqual(['reg.exe', 'add', 'HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings', '/v', 'ProxySettingsPerUser', '/t', 'REG_DWORD', '/d', '1', '/f']);
    expect(byRun('winhttp')).toMatchObject({ run: ['netsh.exe', 'winhttp', 'set', 'proxy', 'proxy-server=127.0.0.1:7420', 'bypass-list=localhost;127.0.0.1;<local>'], undo: ['netsh.exe', 'winhttp', 'reset', 'proxy'] });
  });

  it('sets the upper-case variables of heimdall env in the system environment, restoring a value that was there', () => {
    const cmds = commands(planWindows(base)).filter((c) => c.run.includes(MACHINE_ENVIRONMENT_KEY));
    const names = cmds.map((c) => c.run[4]);
    const expected = buildProxyEnvironment({ proxyUrl: base.proxyUrl, caCertPath: 'x', caBundlePath: 'y' }).map(([k]) => k).filter((k) => k === k.toUpperCase());
    expect(names).toEqual(expected);
    expect(cmds.find((c) => c.run[4] === 'NO_PROXY')?.undo).toEqual(['reg.exe', 'add', MACHINE_ENVIRONMENT_KEY, '/v', 'NO_PROXY', '/t', 'REG_SZ', '/d', 'corp.example', '/f']);
    expect(cmds.find((c) => c.run[4] === 'HTTPS_PROXY')?.undo).toEqual(['reg.exe', 'delete', MACHINE_ENVIRONMENT_KEY, '/v', 'HTTPS_PROXY', '/f']);
  });

  it('registers the service and the helper Run value only when no MSI did', () => {
    expect(commands(planWindows(base)).some((c) => c.run[0] === 'sc.exe')).toBe(false);
    const cmds = commands(planWindows({ ...base, packaged: false }));
    expect(cmds[0]).toMatchObject({ run: ['sc.exe', 'create', 'Heimdall', 'binPath=', '"C:\\Program Files\\Heimdall\\heimdall.exe" run', 'start=', 'auto', 'obj=', 'LocalSystem', 'DisplayName=', 'Heimdall'], undo: ['sc.exe', 'delete', 'Heimdall'] });
    expect(cmds.find((c) => c.run.includes(RUN_KEY))?.run).toEqual(['reg.exe', 'add', RUN_KEY, '/v', 'HeimdallHelper', '/t', 'REG_SZ', '/d', '"C:\\Program Files\\Heimdall\\heimdall.exe" login --if-needed', '/f']);
    expect(planWindows({ ...base, packaged: false }).services[0]).toMatchObject({ run: ['sc.exe', 'start', 'Heimdall'], undo: ['sc.exe', 'stop', 'Heimdall'] });
    expect(planWindows(base).services).toEqual([]);
  });
});
