// Every vendor, listed once: adding an MDM means adding its adapter file and a row here.
import { intune } from './intune.ts';
import { jamf } from './jamf.ts';
import { jumpcloud } from './jumpcloud.ts';
import { kandji } from './kandji.ts';
import { linux } from './linux.ts';
import type { VendorAdapter } from './vendor.ts';
import { workspaceOne } from './workspace-one.ts';

export type { VendorAdapter } from './vendor.ts';
export { MSI_UPGRADE_CODE, win32AppDefinition } from './intune.ts';

export const VENDORS: readonly VendorAdapter[] = [jamf, intune, kandji, workspaceOne, jumpcloud, linux];
