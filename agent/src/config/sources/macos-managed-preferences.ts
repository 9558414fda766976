// macOS managed preferences: MDM (Jamf, Kandji, Intune...) delivers a configuration profile whose
// custom-settings payload macOS writes, usually as a binary plist, to
// /Library/Managed Preferences/<domain>.plist. Users cannot change it.
import { readBoundedFile } from './managed-file.ts';
import { isPlainObject, type ConfigSource, type SourceRead } from './source.ts';

export const MANAGED_PREFERENCES_DOMAIN = 'io.heimdall.agent';
export const MANAGED_PREFERENCES_FILE = `/Library/Managed Preferences/${MANAGED_PREFERENCES_DOMAIN}.plist`;

const BINARY_MAGIC = Buffer.from('bplist00', 'latin1');

/**
 * Parses a plist file's bytes (binary or XML) into its top-level dictionary. The plist library
 * (and its XML parser, ~1.7 MB of heap) is loaded on first use: only macOS ever has this file.
 */
export async function parseManagedPreferences(data: Buffer): Promise<SourceRead> {
  const plist = await import('plist');
  let parsed: unknown;
  try {
    if (data.subarray(0, 8).equals(BINARY_MAGIC)) {
      parsed = plist.parseBinary(data);
    } else {
      parsed = plist.parse(data.toString('utf8'));
    }
  } catch (err) {
    return { status: 'unreadable', reason: `it is not a valid property list: ${(err as Error).message}` };
  }
  if (!isPlainObject(parsed)) return { status: 'unreadable', reason: 'its top level must be a dictionary of settings' };
  return { status: 'ok', values: parsed };
}

// Profile bookkeeping that some MDMs copy into the managed domain next to the settings.
function isPayloadKey(name: string): boolean {
  return name.startsWith('Payload') || name === 'mcx_preference_settings';
}

export function macosManagedPreferencesSource(file: string = MANAGED_PREFERENCES_FILE): ConfigSource {
  return {
    name: file,
    flavor: 'typed',
    watchPaths: [file],
    pollIntervalMs: 0,
    ignoredKey: isPayloadKey,
    async read() {
      const read = await readBoundedFile(file);
      if (read.status !== 'ok') return read;
      return parseManagedPreferences(read.data);
    },
  };
}
