// Workspace ONE UEM: custom settings profiles, the pkg as an internal app, sensors for both OSes.
import { caNote, PATHS, packageNote, profileList } from '../platform-files.ts';
import { bashStatusReport, powershellStatusReport } from '../status-scripts.ts';
import type { VendorAdapter } from './vendor.ts';

export const workspaceOne: VendorAdapter = {
  id: 'workspace-one',
  title: 'Workspace ONE UEM',
  files: () => [
    { path: 'workspace-one/sensor-heimdall-status.sh', content: bashStatusReport('plain', 'Workspace ONE sensor "heimdall_status" (macOS, bash, String)'), executable: true },
    { path: 'workspace-one/sensor-heimdall-status.ps1', content: powershellStatusReport('Workspace ONE sensor "heimdall_status" (Windows, PowerShell, String)') },
  ],
  guide: (ctx) => {
    const out = ctx.options.outLabel;
    return `# Deploying Heimdall with Workspace ONE UEM

${caNote(ctx)}

## macOS
1. **Profiles.** Resources > Profiles & Baselines > Profiles > Add > macOS > Device Profile > Custom Settings:
   paste the contents of each file below (one profile each, or add them as payloads of one profile):
${profileList(ctx)}
2. **App.** Resources > Apps > Native > Internal > Add: upload ${packageNote(ctx, ['pkg-arm64', 'pkg-x64'])}
   (parse it with the VMware Admin Assistant if your console asks for a .plist), assign it Auto.
3. **Sensor.** Resources > Sensors > Add > macOS: name \`heimdall_status\`, language Bash, execution context
   System, response String, and paste \`${out}/workspace-one/sensor-heimdall-status.sh\`.

## Windows
1. **App.** Resources > Apps > Native > Internal > Add: upload ${packageNote(ctx, ['msi-x64', 'msi-arm64'])};
   install command \`msiexec /i "<file>.msi" /qn /norestart\`, when to call install complete: app exists
   \`C:\\Program Files\\Heimdall\\heimdall.exe\`.
2. **Settings.** Resources > Profiles > Add > Windows > Device > Custom Settings, or a Baseline: import
   \`${out}/${PATHS.admx}\` with \`${out}/${PATHS.adml}\`, or apply \`${out}/${PATHS.reg}\` with a script.
${ctx.ca ? `3. **CA.** Profiles > Add > Windows > Device > Credentials: upload \`${out}/${PATHS.caCer}\`, store Root, location Machine.\n` : ''}${ctx.ca ? '4' : '3'}. **Sensor.** Resources > Sensors > Add > Windows: name \`heimdall_status\`, PowerShell, System, String,
   and paste \`${out}/workspace-one/sensor-heimdall-status.ps1\`.
`;
  },
};
