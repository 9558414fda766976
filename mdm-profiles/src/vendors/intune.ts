// Microsoft Intune: the MSI as a Win32 app (.intunewin built here), ADMX ingestion + OMA-URI
// settings, the CA as a trusted-certificate profile; on macOS the profiles and the pkg.
import { readFileSync } from 'node:fs';
import type { ArtifactTarget, DeploymentContext } from '../context.ts';
import type { GeneratedFile } from '../generated-file.ts';
import { buildIntunewin } from '../intunewin.ts';
import { readMsiFacts, type MsiFacts } from '../msi-facts.ts';
import { caNote, PATHS, packageNote, profileList } from '../platform-files.ts';
import { powershellStatusReport } from '../status-scripts.ts';
import { buildAdmx, omaUriSettings, omaUriSyncMl } from '../windows-policy.ts';
import type { VendorAdapter } from './vendor.ts';

export const MSI_UPGRADE_CODE = '{6F1B1E0A-4C1D-4E8B-9B0E-3D5A2C7E9F41}';
const MSI_TARGETS: readonly ArtifactTarget[] = ['msi-x64', 'msi-arm64'];

/** The Win32 app's fields, as Intune's "Add app" form asks for them. */
export function win32AppDefinition(ctx: DeploymentContext, target: ArtifactTarget, facts?: MsiFacts) {
  const msi = ctx.artifacts[target];
  const props = [['GATEWAY_URL', ctx.config.gateway_url], ['ORGANIZATION', ctx.config.organization], ['SUPPORT_URL', ctx.config.support_url]]
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${v}"`)
    .join('');
  return {
    name: 'Heimdall',
    publisher: ctx.options.organization,
    setupFile: msi,
    installCommand: `msiexec /i "${msi}" /qn /norestart${props}`,
    uninstallCommand: `msiexec /x "${msi}" /qn /norestart`,
    installBehavior: 'System',
    deviceRestartBehavior: 'Determine behavior based on return codes',
    returnCodes: [
      { code: 0, type: 'Success' },
      { code: 1707, type: 'Success' },
      { code: 3010, type: 'Soft reboot' },
      { code: 1641, type: 'Hard reboot' },
      { code: 1618, type: 'Retry' },
    ],
    requirements: { architecture: target === 'msi-arm64' ? 'arm64' : 'x64', minimumOs: 'Windows 10 1809' },
    // The product code names this exact build; without it (no msiinfo here), the installed executable.
    detectionRule: facts
      ? { type: 'MSI' as const, productCode: facts.productCode, productVersionCheck: 'Greater than or equal to', productVersion: facts.productVersion }
      : { type: 'File' as const, path: 'C:\\Program Files\\Heimdall', fileOrFolder: 'heimdall.exe', detectionMethod: 'File or folder exists', associatedWith32BitApp: false },
  };
}

function describeDetection(rule: ReturnType<typeof win32AppDefinition>['detectionRule']): string {
  return rule.type === 'MSI'
    ? `MSI, product code \`${rule.productCode}\`, product version greater than or equal to \`${rule.productVersion}\``
    : `File, path \`${rule.path}\`, file \`${rule.fileOrFolder}\`, ${rule.detectionMethod.toLowerCase()}`;
}

export const intune: VendorAdapter = {
  id: 'intune',
  title: 'Microsoft Intune',
  files: (ctx) => {
    const admx = buildAdmx();
    const settings = omaUriSettings(ctx.config, admx);
    const files: GeneratedFile[] = [
      { path: 'intune/oma-uri.json', content: `${JSON.stringify(settings, null, 2)}\n` },
      { path: 'intune/oma-uri.syncml.xml', content: omaUriSyncMl(settings) },
      { path: 'intune/heimdall-status.ps1', content: powershellStatusReport('Intune remediation detection / custom compliance script "Heimdall status"') },
    ];
    for (const target of MSI_TARGETS) {
      const msiPath = ctx.packagePaths[target];
      const facts = msiPath ? readMsiFacts(msiPath) : undefined;
      if (facts && facts.upgradeCode.toUpperCase() !== MSI_UPGRADE_CODE) {
        throw new Error(`--package ${msiPath}: its UpgradeCode is ${facts.upgradeCode}, not Heimdall's ${MSI_UPGRADE_CODE}; pass the MSI that \`npm run package\` built`);
      }
      files.push({ path: `intune/win32-app-${target.replace('msi-', '')}.json`, content: `${JSON.stringify(win32AppDefinition(ctx, target, facts), null, 2)}\n` });
      if (msiPath) {
        const setup = { setupFile: ctx.artifacts[target], setupData: readFileSync(msiPath) };
        files.push({ path: `intune/${ctx.artifacts[target].replace(/\.msi$/, '.intunewin')}`, content: buildIntunewin(facts ? { ...setup, msi: facts } : setup) });
      }
    }
    return files;
  },
  guide: (ctx) => {
    const out = ctx.options.outLabel;
    const x64Path = ctx.packagePaths['msi-x64'];
    const x64 = win32AppDefinition(ctx, 'msi-x64', x64Path ? readMsiFacts(x64Path) : undefined);
    const wrapped = MSI_TARGETS.map((t) =>
      ctx.packagePaths[t] ? `\`${out}/intune/${ctx.artifacts[t].replace(/\.msi$/, '.intunewin')}\`` : `(not generated: run \`heimdall-mdm generate\` with \`--package dist/packages/${ctx.artifacts[t]}\` from \`npm run package\`)`,
    );
    return `# Deploying Heimdall with Microsoft Intune

${caNote(ctx)}

## Windows
1. **Win32 app.** Apps > Windows > Add > Windows app (Win32), one app per architecture:
   x64 ${wrapped[0]}, arm64 ${wrapped[1]}. Every field is in \`${out}/intune/win32-app-x64.json\`
   (and \`-arm64.json\`):
   - Install command: \`${x64.installCommand}\`
   - Uninstall command: \`${x64.uninstallCommand}\`
   - Install behavior: System; device restart: determine behavior based on return codes
   - Return codes: ${x64.returnCodes.map((r) => `${r.code} ${r.type}`).join(', ')}
   - Detection rule: ${describeDetection(x64.detectionRule)}
2. **Settings.** Devices > Configuration > Create > Windows 10 and later > Templates > Custom, and add one
   OMA-URI row per entry of \`${out}/intune/oma-uri.json\` (name, OMA-URI, data type String, value), the
   ADMX ingestion row first. They write \`HKLM\\SOFTWARE\\Policies\\Heimdall\`, which the agent reads.
   (\`${out}/${PATHS.admx}\` and \`${out}/${PATHS.adml}\` are the same templates for Group Policy or
   Intune's "Import ADMX"; \`${out}/intune/oma-uri.syncml.xml\` is the profile as the device receives it.)
${ctx.ca ? `3. **CA.** Devices > Configuration > Create > Windows 10 and later > Templates > Trusted certificate: upload
   \`${out}/${PATHS.caCer}\`, destination store Computer certificate store - Root.
` : ''}${ctx.ca ? '4' : '3'}. **Reporting.** Devices > Scripts and remediations > Create: detection script
   \`${out}/intune/heimdall-status.ps1\` (run as SYSTEM, 64-bit); its output is the status line.

## macOS
1. **Profiles.** Devices > Configuration > Create > macOS > Templates > Custom, deployment channel Device
   channel, one per file:
${profileList(ctx)}
2. **App.** Apps > macOS > Add > macOS app (PKG): upload ${packageNote(ctx, ['pkg-arm64', 'pkg-x64'])}.
`;
  },
};
