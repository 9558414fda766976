// What every configuration source provides to the manager.
import type { RawValues, SourceFlavor } from '../validate.ts';

export type SourceRead =
  | { status: 'absent' }
  | { status: 'ok'; values: RawValues }
  | { status: 'unreadable'; reason: string };

export interface ConfigSource {
  /** Shown in every message about this source: a path, a registry key, "command-line flags". */
  readonly name: string;
  readonly flavor: SourceFlavor;
  /** Files whose changes mean the source must be read again. */
  readonly watchPaths: readonly string[];
  /** For sources that cannot be watched (the registry): re-read period in ms; 0 for never. */
  readonly pollIntervalMs: number;
  read(): Promise<SourceRead>;
  /** Keys the source's format adds that are not settings (plist payload bookkeeping). */
  ignoredKey?(name: string): boolean;
}

/** Managed files are small; anything larger is a mistake or an attack, not a config. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) && !Buffer.isBuffer(value);
}
