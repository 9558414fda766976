// Development flags (`heimdall run --gateway-url ... --proxy-port ...`): the lowest-precedence source,
// one flag per key of the table, so a developer can run without a managed file.
import { CONFIG_KEY_NAMES, CONFIG_KEYS, type ConfigKey } from '../keys.ts';
import { checkKeyValue } from '../validate.ts';
import type { ConfigSource } from './source.ts';

export interface ConfigFlag {
  key: ConfigKey;
  /** e.g. `--proxy-port <value>` */
  flag: string;
  /** commander's camelCase attribute name */
  attribute: string;
  description: string;
}

export const CONFIG_FLAGS: readonly ConfigFlag[] = CONFIG_KEY_NAMES.map((key) => {
  const kebab = key.replace(/_/g, '-');
  const attribute = kebab.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return { key, flag: `--${kebab} <value>`, attribute, description: CONFIG_KEYS[key].description };
});

/** Turns parsed commander options into a source (only flags that were given). */
export function flagsSource(options: Record<string, unknown>): ConfigSource {
  const values: Record<string, unknown> = {};
  for (const f of CONFIG_FLAGS) {
    const v = options[f.attribute];
    if (v !== undefined) values[f.key] = v;
  }
  return {
    name: 'command-line flags',
    flavor: 'text',
    watchPaths: [],
    pollIntervalMs: 0,
    read: () => Promise.resolve(Object.keys(values).length > 0 ? { status: 'ok', values } : { status: 'absent' }),
  };
}

/**
 * The flags given with a value their key does not accept, each as a sentence naming the flag, the
 * value and what is accepted (the same check and words as the managed file's errors). `heimdall run`
 * refuses to start on any of them: a daemon started on a guess governs the wrong way silently.
 */
export function invalidConfigFlags(options: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const f of CONFIG_FLAGS) {
    const v = options[f.attribute];
    if (v === undefined) continue;
    const checked = checkKeyValue(f.key, v, 'text');
    if (!checked.ok) out.push(`${f.flag.split(' ')[0]!} (config key "${f.key}"): expected ${checked.expected}, got ${checked.got}`);
  }
  return out;
}
