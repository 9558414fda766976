// The managed settings in each platform's shape, all derived from the agent's key table
// (CONFIG_KEYS): plist values for macOS, registry values for Windows, JSON for Linux.
import { CONFIG_KEY_NAMES, CONFIG_KEYS, type ConfigKey, type HeimdallConfig, type KeyKind } from '../../agent/src/config/index.ts';

export type RegistryType = 'REG_SZ' | 'REG_DWORD' | 'REG_MULTI_SZ';

/** A set key's value, as the key table types it. */
export type SettingValue = string | number | boolean | readonly string[];

export interface RegistrySetting {
  name: ConfigKey;
  type: RegistryType;
  value: string | number | readonly string[];
}

// How each kind of key is stored in the policy registry: the agent's registry reader takes text
// for strings, a DWORD (0/1 for booleans) for numbers and a multi-string for lists.
const REGISTRY_TYPES: Record<KeyKind['kind'], RegistryType> = {
  url: 'REG_SZ',
  string: 'REG_SZ',
  enum: 'REG_SZ',
  port: 'REG_DWORD',
  boolean: 'REG_DWORD',
  list: 'REG_MULTI_SZ',
};

export function registryTypeOf(key: ConfigKey): RegistryType {
  return REGISTRY_TYPES[CONFIG_KEYS[key].type.kind];
}

/** The set keys, in the table's order (a stable order keeps generated files diff-friendly). */
export function setKeys(config: Partial<HeimdallConfig>): ConfigKey[] {
  return CONFIG_KEY_NAMES.filter((k) => config[k] !== undefined);
}

/** The forced values of the io.heimdall.agent preference domain: typed, exactly as the agent reads them. */
export function managedPreferences(config: Partial<HeimdallConfig>): Record<string, string | number | boolean | string[]> {
  return Object.fromEntries(
    setKeys(config).map((k) => {
      const value = config[k] as SettingValue;
      return [k, Array.isArray(value) ? [...(value as readonly string[])] : (value as string | number | boolean)];
    }),
  );
}

export function registrySettings(config: Partial<HeimdallConfig>): RegistrySetting[] {
  return setKeys(config).map((name) => {
    const value = config[name] as SettingValue;
    return { name, type: registryTypeOf(name), value: typeof value === 'boolean' ? Number(value) : value };
  });
}

/** The Linux managed file (/etc/heimdall/config.json). */
export function managedFileJson(config: Partial<HeimdallConfig>): string {
  return `${JSON.stringify(managedPreferences(config), null, 2)}\n`;
}
