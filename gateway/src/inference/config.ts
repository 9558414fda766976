// The `inference` section of the gateway config file: where each provider's traffic goes and with
// which key. Keys are `env.NAME` references resolved once at start; the value lives only in memory.
import { inspect } from 'node:util';
import { z } from 'zod';
import { PROVIDER_IDS, PROVIDERS, type ProviderId } from './providers.ts';

/** A provider key held in memory. It never serialises or prints, so it cannot slip into a log line. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

export type ProviderUpstream =
  /** The provider's own API: `apiKey` absent means only requests with the user's direct key work. */
  | { kind: 'provider'; baseUrl: URL; apiKey: Secret | undefined; apiKeyVariable: string | undefined }
  /** An upstream Bifrost: the gateway keeps the route path and sends the virtual key on. */
  | { kind: 'bifrost'; bifrostUrl: URL };

export interface InferenceTimeouts {
  /** TCP (and TLS) connection to the upstream. */
  connectMs: number;
  /** From the end of the request body to the upstream's response headers. */
  headersMs: number;
  /** Longest silence in either direction while a body or websocket is streaming. */
  idleMs: number;
}

export interface ProviderConfig {
  providers: Partial<Record<ProviderId, ProviderUpstream>>;
  timeouts: InferenceTimeouts;
}

export const DEFAULT_TIMEOUTS: InferenceTimeouts = { connectMs: 10_000, headersMs: 300_000, idleMs: 300_000 };

/** A config problem a person must fix; the message names the key, the file and what to do. */
export class InferenceConfigError extends Error {
  override name = 'InferenceConfigError';
}

const ENV_REFERENCE = /^env\.([A-Za-z_][A-Za-z0-9_]*)$/;

const httpUrl = z.string().refine((v) => {
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}, 'expected an http(s) URL without query, fragment or credentials, like "https://api.openai.com"');

const providerEntry = z.union([
  z.strictObject({ bifrost_url: httpUrl }),
  z.strictObject({
    base_url: httpUrl.optional(),
    api_key: z
      .string()
      .regex(ENV_REFERENCE, 'expected a reference to an environment variable, like "env.OPENAI_API_KEY" (the key itself never goes in the config file)')
      .optional(),
  }),
]);

const timeoutMs = z.number().int().min(1).max(3_600_000);

const inferenceSection = z.strictObject({
  bifrost_url: httpUrl.optional(),
  providers: z.strictObject(Object.fromEntries(PROVIDER_IDS.map((id) => [id, providerEntry.optional()])) as Record<ProviderId, z.ZodOptional<typeof providerEntry>>).optional(),
  timeouts: z.strictObject({ connect_ms: timeoutMs.optional(), headers_ms: timeoutMs.optional(), idle_ms: timeoutMs.optional() }).optional(),
});

export type InferenceSection = z.input<typeof inferenceSection>;

/**
 * Validates the config file's `inference` section and resolves every `env.NAME` key from `env`.
 * `source` names the file in error messages. Throws InferenceConfigError on the first problem.
 */
export function loadProviderConfig(section: unknown, options: { env?: NodeJS.ProcessEnv; source?: string } = {}): ProviderConfig {
  const env = options.env ?? process.env;
  const where = options.source ? ` in ${options.source}` : '';
  const parsed = inferenceSection.safeParse(section ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = ['inference', ...(issue?.path ?? []).map(String)].join('.');
    throw new InferenceConfigError(`config key \`${key}\`${where}: ${issue?.message ?? 'invalid'}`);
  }
  const cfg = parsed.data;
  const providers: Partial<Record<ProviderId, ProviderUpstream>> = {};
  for (const id of PROVIDER_IDS) {
    const entry = cfg.providers?.[id];
    if (entry === undefined) {
      if (cfg.bifrost_url !== undefined) providers[id] = { kind: 'bifrost', bifrostUrl: new URL(cfg.bifrost_url) };
      continue;
    }
    if ('bifrost_url' in entry) {
      providers[id] = { kind: 'bifrost', bifrostUrl: new URL(entry.bifrost_url) };
      continue;
    }
    let apiKey: Secret | undefined;
    let apiKeyVariable: string | undefined;
    if (entry.api_key !== undefined) {
      if (PROVIDERS[id].applyKey === null) {
        throw new InferenceConfigError(
          `config key \`inference.providers.${id}.api_key\`${where}: ${id} has no organisation key; remove api_key (its requests always carry the user's own credential)`,
        );
      }
      apiKeyVariable = ENV_REFERENCE.exec(entry.api_key)![1]!;
      const value = env[apiKeyVariable];
      if (value === undefined || value.trim() === '') {
        throw new InferenceConfigError(
          `config key \`inference.providers.${id}.api_key\`${where}: environment variable ${apiKeyVariable} (the ${id} provider key) is not set; ` +
            `set it in the gateway's environment and restart`,
        );
      }
      apiKey = new Secret(value.trim());
    }
    providers[id] = { kind: 'provider', baseUrl: new URL(entry.base_url ?? PROVIDERS[id].defaultBaseUrl), apiKey, apiKeyVariable };
  }
  const t = cfg.timeouts ?? {};
  return {
    providers,
    timeouts: {
      connectMs: t.connect_ms ?? DEFAULT_TIMEOUTS.connectMs,
      headersMs: t.headers_ms ?? DEFAULT_TIMEOUTS.headersMs,
      idleMs: t.idle_ms ?? DEFAULT_TIMEOUTS.idleMs,
    },
  };
}
