// The installer room: single-file executables (and, beside them, the OS packages). Its only door.
export { buildExecutables, readBuildStamp, CHECKSUMS_FILE, type BuildExecutablesOptions, type BuildExecutablesResult, type BuiltExecutable } from './executables/build.ts';
export type { BuildStamp } from './executables/bundle.ts';
export { addonCompileArgs, buildAddon, parseAddons, ADDON_SOURCES, WINDOWS_ADDON_IMPORTS } from './executables/addon.ts';
export { NODE_VERSION, TARGETS, TARGET_NAMES, hostTarget, type AddonRecipe, type Target, type TargetName } from './executables/targets.ts';
export { osslsigncodeSignArgs, osslsigncodeVerifyArgs, type WindowsSigning } from './executables/sign-windows.ts';
export { codesignArgs, notarytoolSubmitArgs, ENTITLEMENTS_FILE } from './executables/sign-macos.ts';
// The OS packages (.deb, .rpm, .pkg, .msi) made from those executables.
export { buildPackages, executableFor, PACKAGE_FORMATS, type BuildPackagesOptions, type BuildPackagesResult, type PackageFormat } from './packages/index.ts';
