// Jamf Pro: configuration profiles, the pkg as a policy payload, an Extension Attribute and a smart group.
import { caNote, PATHS, packageNote, profileList } from '../platform-files.ts';
import { bashStatusReport } from '../status-scripts.ts';
import type { VendorAdapter } from './vendor.ts';

export const jamf: VendorAdapter = {
  id: 'jamf',
  title: 'Jamf Pro',
  files: () => [{ path: 'jamf/extension-attribute.sh', content: bashStatusReport('jamf-extension-attribute', 'Jamf Pro Extension Attribute "Heimdall status"'), executable: true }],
  guide: (ctx) => {
    const out = ctx.options.outLabel;
    return `# Deploying Heimdall with Jamf Pro

${caNote(ctx)}

1. **Configuration profiles.** In Jamf Pro, Computers > Configuration Profiles > Upload, upload each
   file below (Level: Computer Level; they are System-scoped), and scope them to the computers that get Heimdall:
${profileList(ctx)}
   Uploading again after a new \`heimdall-mdm generate\` replaces the profiles: their identifiers and
   UUIDs are derived from the organization \`${ctx.options.organization}\`.
   (Alternatively, upload \`${out}/${PATHS.settingsPlist}\` under Application & Custom Settings > Upload with
   the preference domain \`io.heimdall.agent\` instead of \`heimdall-settings.mobileconfig\`.)
2. **Package.** Settings > Computer Management > Packages > New: upload ${packageNote(ctx, ['pkg-arm64', 'pkg-x64'])}.
   Computers > Policies > New: trigger Recurring Check-in and Enrollment Complete, frequency Once per computer,
   Packages: the pkg for the Mac's architecture (two policies, scoped with the Architecture Type criterion
   \`arm64\` and \`x86_64\`), Maintenance: Update Inventory.
3. **Extension Attribute.** Settings > Computer Management > Extension Attributes > New: Display Name
   \`Heimdall status\`, Data Type String, Input Type Script, and paste \`${out}/jamf/extension-attribute.sh\`.
   It reports \`governed; version=…; users=…\` or \`not governed: <reason>; …\` from \`heimdall status --json\`
   (reasons: daemon_not_running, not_configured, interception_off, not_signed_in, gateway_unreachable, policy_stale),
   or \`not installed\`.
4. **Smart group.** Computers > Smart Computer Groups > New: \`Heimdall not governed\`, criterion
   \`Heimdall status\` *like* \`not governed\`, or \`Heimdall status\` *is* \`not installed\`. Scope a
   notification or a re-install policy to it; \`not_signed_in\` means the person has not completed SSO yet.
`;
  },
};
