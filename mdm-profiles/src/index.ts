// The MDM room: generates what Jamf, Intune, Kandji, Workspace ONE, JumpCloud and Linux fleets
// need to install, trust, configure and start Heimdall, from the agent's own key table.
export { buildContext, artifactNames, GenerateInputError, type GenerateOptions, type DeploymentContext, type AppSettingsInput } from './context.ts';
export { generateFiles, writeFiles, exampleGuides, EXAMPLE_OPTIONS } from './generate.ts';
export type { GeneratedFile } from './generated-file.ts';
export { runMdmCli } from './cli.ts';
export { payloadUuid, uuidV5 } from './uuid.ts';
export { profileSpecs, profileDictionary, buildPlist, APP_SETTINGS, PREFERENCE_DOMAIN } from './apple-profiles.ts';
export { managedPreferences, registrySettings, managedFileJson, type RegistrySetting } from './managed-settings.ts';
export { buildAdmx, buildAdml, omaUriSettings, omaUriSyncMl, registryFile, policyUri, ADMX_INSTALL_URI, type OmaUriSetting } from './windows-policy.ts';
export { buildIntunewin, encryptContent, INTUNEWIN_CONTENT_PATH, INTUNEWIN_DETECTION_PATH } from './intunewin.ts';
export { signProfile } from './sign.ts';
export { bashStatusReport, kandjiAuditScript, powershellStatusReport } from './status-scripts.ts';
export { STATUS_REASONS } from './status-contract.ts';
export { VENDORS, MSI_UPGRADE_CODE, win32AppDefinition, type VendorAdapter } from './vendors/index.ts';
export { PATHS } from './platform-files.ts';
