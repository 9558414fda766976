// Kandji: the profiles as Custom Profiles, the pkg as a Custom App with an audit script.
import { caNote, packageNote, profileList } from '../platform-files.ts';
import { kandjiAuditScript } from '../status-scripts.ts';
import type { VendorAdapter } from './vendor.ts';

export const kandji: VendorAdapter = {
  id: 'kandji',
  title: 'Kandji',
  files: () => [{ path: 'kandji/audit.sh', content: kandjiAuditScript(), executable: true }],
  guide: (ctx) => `# Deploying Heimdall with Kandji

${caNote(ctx)}

1. **Custom Profiles.** Library > Add new > Custom Profile, one per file below, assigned to the Blueprints
   that get Heimdall (install on Mac, System scope is inside the file):
${profileList(ctx)}
2. **Custom App.** Library > Add new > Custom App: Installation type *Package*, upload
   ${packageNote(ctx, ['pkg-arm64'])} (Apple silicon) and a second Custom App with ${packageNote(ctx, ['pkg-x64'])} (Intel),
   Install type *Audit and Enforce*, and paste \`${ctx.options.outLabel}/kandji/audit.sh\` as the audit script.
   It exits non-zero (Kandji reinstalls) only when Heimdall is missing or its daemon is not running;
   other states are printed in the audit log, e.g. \`heimdall status: not_signed_in\`.
`,
};
