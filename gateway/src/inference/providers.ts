// Per-provider facts as one table: the public API root, how a credential is presented, and which
// headers carry credentials (to strip or keep). Which providers exist and the error format their
// clients read are the inference contract's (protocol/inference-routes.ts).
import { INFERENCE_PROVIDER_IDS, type InferenceProvider } from '../../../protocol/index.ts';

export const PROVIDER_IDS: readonly InferenceProvider[] = INFERENCE_PROVIDER_IDS;
export type ProviderId = InferenceProvider;

export type OutgoingHeaders = Record<string, string | string[]>;

export interface ProviderSpec {
  defaultBaseUrl: string;
  /**
   * Sets the gateway-held key on a request to the provider, or null when the provider has no
   * organisation-wide key (ChatGPT accounts are personal: only the user's own token works there).
   */
  applyKey: ((headers: OutgoingHeaders, key: string) => void) | null;
  /** Environment variable the config usually names for this provider's key (docs and examples). */
  conventionalKeyVariable: string | null;
}

/** Request headers that carry a credential to some provider; all of them are ours to govern. */
export const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'] as const;

export const PROVIDERS = {
  openai: {
    defaultBaseUrl: 'https://api.openai.com',
    applyKey: (headers, key) => {
      headers['authorization'] = `Bearer ${key}`;
    },
    conventionalKeyVariable: 'OPENAI_API_KEY',
  },
  anthropic: {
    defaultBaseUrl: 'https://api.anthropic.com',
    applyKey: (headers, key) => {
      headers['x-api-key'] = key;
      // The API refuses requests without a version; SDKs always send one, curl users often do not.
      headers['anthropic-version'] ??= '2023-06-01';
    },
    conventionalKeyVariable: 'ANTHROPIC_API_KEY',
  },
  genai: {
    defaultBaseUrl: 'https://generativelanguage.googleapis.com',
    applyKey: (headers, key) => {
      headers['x-goog-api-key'] = key;
    },
    conventionalKeyVariable: 'GEMINI_API_KEY',
  },
  chatgpt: {
    defaultBaseUrl: 'https://chatgpt.com',
    applyKey: null,
    conventionalKeyVariable: null,
  },
} as const satisfies Record<ProviderId, ProviderSpec>;

export function providerSpec(id: ProviderId): ProviderSpec {
  return PROVIDERS[id];
}
