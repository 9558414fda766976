// The config room: one typed, validated configuration merged from MDM, the managed file and flags.
import type { SupportedPlatform } from '../lib/platform.ts';
import { managedFileSource } from './sources/managed-file.ts';
import { macosManagedPreferencesSource } from './sources/macos-managed-preferences.ts';
import { windowsPolicyRegistrySource } from './sources/windows-policy-registry.ts';
import { flagsSource } from './sources/flags.ts';
import type { ConfigSource } from './sources/source.ts';

export { CONFIG_KEYS, CONFIG_KEY_NAMES, defaultConfig, type HeimdallConfig, type ConfigKey } from './keys.ts';
export { ConfigManager, type ConfigChange, type ResolvedConfig, type LastGoodCache, type ConfigManagerOptions } from './manager.ts';
export { validateSource, type ConfigProblem, type ValidatedSource, type SourceFlavor } from './validate.ts';
export type { KeyKind } from './keys.ts';
export type { ConfigSource, SourceRead } from './sources/source.ts';
export { CONFIG_FLAGS, flagsSource, invalidConfigFlags } from './sources/flags.ts';
export { managedFileSource, parseManagedJson, readManagedFile } from './sources/managed-file.ts';
export { macosManagedPreferencesSource, parseManagedPreferences, MANAGED_PREFERENCES_FILE, MANAGED_PREFERENCES_DOMAIN } from './sources/macos-managed-preferences.ts';
export { windowsPolicyRegistrySource, parseRegQueryOutput, interpretRegQuery, buildRegQueryCommand, POLICY_REGISTRY_KEY } from './sources/windows-policy-registry.ts';

/** The sources of this platform, highest precedence first, as the brief orders them. */
export function platformSources(options: { platform: SupportedPlatform; managedFile: string; flags: Record<string, unknown> }): ConfigSource[] {
  const mdm: Record<SupportedPlatform, ConfigSource[]> = {
    darwin: [macosManagedPreferencesSource()],
    win32: [windowsPolicyRegistrySource()],
    linux: [],
  };
  return [...mdm[options.platform], managedFileSource(options.managedFile), flagsSource(options.flags)];
}
