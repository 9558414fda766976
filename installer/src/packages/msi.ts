// The Windows .msi, built with wixl (msitools) and finished with msibuild where wixl has no element
// for it: component conditions, service failure actions, the Arm64 platform.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { HELPER_ARGS, WINDOWS_RUN_VALUE, WINDOWS_SERVICE_NAME } from '../../../agent/src/install/index.ts';
import type { PackageArch, PackageFormat, PackageInput } from './types.ts';

const run = promisify(execFile);

/** Shared with every MSI Heimdall ever ships: major upgrades find the installed version by it. */
export const MSI_UPGRADE_CODE = '{6F1B1E0A-4C1D-4E8B-9B0E-3D5A2C7E9F41}';
export const POLICY_KEY = 'SOFTWARE\\Policies\\Heimdall';
const RUN_KEY = 'SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run';

/** The public properties an admin passes (msiexec /i heimdall.msi GATEWAY_URL=...), each a policy value. None is a secret. */
export const MSI_PROPERTIES: readonly { property: string; value: string; component: string; guid: string }[] = [
  { property: 'GATEWAY_URL', value: 'gateway_url', component: 'PolicyGatewayUrl', guid: '{5B0C8E1D-2F4A-4C3B-8D6E-1A2B3C4D5E61}' },
  { property: 'ORGANIZATION', value: 'organization', component: 'PolicyOrganization', guid: '{5B0C8E1D-2F4A-4C3B-8D6E-1A2B3C4D5E62}' },
  { property: 'SUPPORT_URL', value: 'support_url', component: 'PolicySupportUrl', guid: '{5B0C8E1D-2F4A-4C3B-8D6E-1A2B3C4D5E63}' },
];

// Component GUIDs stay the same across versions (Windows Installer's component rules).
const EXECUTABLE_COMPONENT = { id: 'Executable', guid: '{5B0C8E1D-2F4A-4C3B-8D6E-1A2B3C4D5E51}' };
const HELPER_COMPONENT = { id: 'HelperRunKey', guid: '{5B0C8E1D-2F4A-4C3B-8D6E-1A2B3C4D5E52}' };

const TEMPLATE: Record<PackageArch, string> = { x64: 'x64;1033', arm64: 'Arm64;1033' };

/** A GUID from a hash: the same version and arch always get the same ProductCode / PackageCode. */
function hashGuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex').toUpperCase();
  return `{${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-A${h.slice(17, 20)}-${h.slice(20, 32)}}`;
}

function xml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function wxsSource(version: string, arch: PackageArch, executableFileName: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="${hashGuid('product', version, arch)}" Name="Heimdall" Language="1033" Version="${xml(version)}" Manufacturer="Heimdall" UpgradeCode="${MSI_UPGRADE_CODE}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="Heimdall endpoint agent" Comments="Routes AI apps through the organization's AI gateway" />
    <MajorUpgrade DowngradeErrorMessage="A newer version of Heimdall is already installed." />
    <Media Id="1" Cabinet="heimdall.cab" EmbedCab="yes" />
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFiles64Folder">
        <Directory Id="INSTALLDIR" Name="Heimdall">
          <Component Id="${EXECUTABLE_COMPONENT.id}" Guid="${EXECUTABLE_COMPONENT.guid}" Win64="yes">
            <File Id="HeimdallExe" Name="heimdall.exe" Source="${xml(executableFileName)}" KeyPath="yes" />
            <ServiceInstall Id="HeimdallService" Name="${WINDOWS_SERVICE_NAME}" DisplayName="Heimdall" Description="Routes AI apps through the organization's AI gateway" Type="ownProcess" Start="auto" ErrorControl="normal" Account="LocalSystem" Arguments="run" />
            <ServiceControl Id="HeimdallServiceControl" Name="${WINDOWS_SERVICE_NAME}" Start="install" Stop="both" Remove="uninstall" Wait="yes" />
          </Component>
          <Component Id="${HELPER_COMPONENT.id}" Guid="${HELPER_COMPONENT.guid}" Win64="yes">
            <RegistryValue Root="HKLM" Key="${RUN_KEY}" Name="${WINDOWS_RUN_VALUE}" Type="string" Value="&quot;[INSTALLDIR]heimdall.exe&quot; ${HELPER_ARGS.join(' ')}" KeyPath="yes" />
          </Component>
${MSI_PROPERTIES.map((p) => `          <Component Id="${p.component}" Guid="${p.guid}" Win64="yes">
            <RegistryValue Root="HKLM" Key="${POLICY_KEY}" Name="${p.value}" Type="string" Value="[${p.property}]" KeyPath="yes" />
          </Component>`).join('\n')}
        </Directory>
      </Directory>
    </Directory>
    <CustomAction Id="HeimdallInstall" FileKey="HeimdallExe" ExeCommand="install" Execute="deferred" Impersonate="no" Return="check" />
    <CustomAction Id="HeimdallUninstall" FileKey="HeimdallExe" ExeCommand="uninstall --purge" Execute="deferred" Impersonate="no" Return="ignore" />
    <InstallExecuteSequence>
      <Custom Action="HeimdallUninstall" After="StopServices">REMOVE="ALL" AND NOT UPGRADINGPRODUCTCODE</Custom>
      <Custom Action="HeimdallInstall" After="InstallServices">NOT REMOVE</Custom>
    </InstallExecuteSequence>
    <Feature Id="Heimdall" Level="1">
      <ComponentRef Id="${EXECUTABLE_COMPONENT.id}" />
      <ComponentRef Id="${HELPER_COMPONENT.id}" />
${MSI_PROPERTIES.map((p) => `      <ComponentRef Id="${p.component}" />`).join('\n')}
    </Feature>
  </Product>
</Wix>
`;
}

/** Restart after each of the first three failures (5 s, 5 s, 30 s); the count resets after a day. */
const FAILURE_ACTIONS_IDT = [
  'MsiServiceConfigFailureActions\tName\tEvent\tResetPeriod\tRebootMessage\tCommand\tActions\tDelayActions\tComponent_',
  's72\ts255\ti2\tI4\tL255\tL255\tS255\tS255\ts72',
  'MsiServiceConfigFailureActions\tMsiServiceConfigFailureActions',
  `HeimdallRestartOnFailure\t${WINDOWS_SERVICE_NAME}\t1\t86400\t\t\t1[~]1[~]1\t5000[~]5000[~]30000\t${EXECUTABLE_COMPONENT.id}`,
  '',
].join('\r\n');

/** What wixl cannot express, applied with msibuild (SQL and table import). */
function finishingQueries(secureProperties: string): string[] {
  return [
    // A policy value is written only when its property was given, so an empty one never overrides the managed file.
    ...MSI_PROPERTIES.map((p) => `UPDATE \`Component\` SET \`Condition\` = '${p.property}' WHERE \`Component\` = '${p.component}'`),
    // Public properties reach the elevated (server-side) install only when listed as secure.
    `UPDATE \`Property\` SET \`Value\` = '${secureProperties}' WHERE \`Property\` = 'SecureCustomProperties'`,
    // Applies MsiServiceConfigFailureActions (Windows Installer 5), between InstallServices (5800) and StartServices (5900).
    "INSERT INTO `InstallExecuteSequence` (`Action`, `Condition`, `Sequence`) VALUES ('MsiConfigureServices', 'VersionMsi >= \"5.00\"', 5850)",
    // wixl places a Before/After action badly (at 1, outside InstallInitialize (1500) .. InstallFinalize
    // where deferred actions must run). Uninstall runs once the service has stopped (StopServices, 1900:
    // its database is closed, so --purge can delete the state) and while heimdall.exe is still there
    // (RemoveFiles, 3500).
    'UPDATE `InstallExecuteSequence` SET `Sequence` = 1950 WHERE `Action` = \'HeimdallUninstall\'',
    // Remove the old version completely before installing the new one (WiX's afterInstallValidate; wixl
    // schedules it after InstallExecute). Its uninstall action is skipped (UPGRADINGPRODUCTCODE), so the
    // install record survives and the new version's install merges into it.
    // heimdall install makes the CA before the service first starts (StartServices, 5900), so the daemon finds it.
    'UPDATE `InstallExecuteSequence` SET `Sequence` = 5880 WHERE `Action` = \'HeimdallInstall\'',
    'UPDATE `InstallExecuteSequence` SET `Sequence` = 1401 WHERE `Action` = \'RemoveExistingProducts\'',
  ];
}

export const msi: PackageFormat = {
  name: 'msi',
  os: 'win',
  arches: ['x64', 'arm64'],
  fileName: (version, arch) => `heimdall-${version}-win-${arch}.msi`,
  async build(input: PackageInput): Promise<string> {
    const work = path.resolve(input.workDir, `msi-${input.arch}`);
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true });
    const exe = path.join(work, 'heimdall.exe');
    await copyFile(input.executable, exe);
    const wxs = path.join(work, 'heimdall.wxs');
    // wixl resolves Source against its working directory and rejects absolute paths.
    await writeFile(wxs, wxsSource(input.version, input.arch, path.basename(exe)));
    const out = path.resolve(input.outDir, msi.fileName(input.version, input.arch));
    await mkdir(input.outDir, { recursive: true });
    await rm(out, { force: true });
    // wixl knows x86 and x64 only; the Arm64 package differs in its summary Template, set below.
    await run('wixl', ['-a', 'x64', '-o', out, path.basename(wxs)], { cwd: work, env: { ...process.env, SOURCE_DATE_EPOCH: String(input.sourceDateEpoch) } });
    const existing = (await run('msiinfo', ['export', out, 'Property'])).stdout;
    const secure = /^SecureCustomProperties\t(.*)$/m.exec(existing)?.[1]?.trim() ?? '';
    const secureProperties = [...secure.split(';').filter(Boolean), ...MSI_PROPERTIES.map((p) => p.property)].join(';');
    for (const query of finishingQueries(secureProperties)) await run('msibuild', [out, '-q', query]);
    const idt = path.join(work, 'MsiServiceConfigFailureActions.idt');
    await writeFile(idt, FAILURE_ACTIONS_IDT);
    await run('msibuild', [out, '-i', idt]);
    const digest = createHash('sha256').update(await readFile(input.executable)).digest('hex');
    await run('msibuild', [out, '-s', 'Heimdall', 'Heimdall', TEMPLATE[input.arch], hashGuid('package', input.version, input.arch, digest)]);
    return out;
  },
};
