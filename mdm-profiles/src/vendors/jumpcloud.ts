// JumpCloud: one command per OS that installs and configures Heimdall.
import { caNote, packageNote, profileList } from '../platform-files.ts';
import { linuxInstallScript, macosInstallScript, windowsInstallScript } from '../install-scripts.ts';
import type { VendorAdapter } from './vendor.ts';

export const jumpcloud: VendorAdapter = {
  id: 'jumpcloud',
  title: 'JumpCloud',
  files: (ctx) => [
    { path: 'jumpcloud/macos-install.sh', content: macosInstallScript(ctx), executable: true },
    { path: 'jumpcloud/linux-install.sh', content: linuxInstallScript(ctx), executable: true },
    { path: 'jumpcloud/windows-install.ps1', content: windowsInstallScript(ctx) },
  ],
  guide: (ctx) => {
    const out = ctx.options.outLabel;
    const from = ctx.options.packageUrl
      ? `The commands download the packages from \`${ctx.options.packageUrl}\`${Object.keys(ctx.packagePaths).length ? ' and check their SHA-256' : ''}.`
      : `Attach the package to each command (Files): macOS ${packageNote(ctx, ['pkg-arm64', 'pkg-x64'])}; Linux ${packageNote(ctx, ['deb-amd64', 'deb-arm64', 'rpm-x86_64', 'rpm-aarch64'])}; Windows ${packageNote(ctx, ['msi-x64', 'msi-arm64'])}. JumpCloud places them in /tmp or C:\\Windows\\Temp, where the commands look.`;
    return `# Deploying Heimdall with JumpCloud

${caNote(ctx)}

${from}

1. **macOS.** Device Management > Policy Management > Mac > MDM Custom Configuration Profile: one policy per file:
${profileList(ctx)}
   Then Device Management > Commands > New > Mac, run as root, paste \`${out}/jumpcloud/macos-install.sh\`.
2. **Windows.** Commands > New > Windows, PowerShell, paste \`${out}/jumpcloud/windows-install.ps1\`: it writes
   \`HKLM\\SOFTWARE\\Policies\\Heimdall\`${ctx.ca ? ', trusts the fleet CA' : ''} and installs the MSI.
3. **Linux.** Commands > New > Linux, run as root, paste \`${out}/jumpcloud/linux-install.sh\`: it writes
   \`/etc/heimdall/config.json\`${ctx.ca ? ', trusts the fleet CA' : ''} and installs the .deb or .rpm.
`;
  },
};
