// The `sso` section of the gateway config: the organization's IdPs, who may sign in, which virtual
// key each person gets, seats, and what happens to requests of people who are not signed in.
// Secrets (client secrets, virtual keys) are `env.NAME` references resolved once at start; the
// values live only in memory (Secret never prints them) and no error names a value.
import { z } from 'zod';
import type { UnattributedMode } from '../../../protocol/index.ts';
import { Secret } from '../inference/index.ts';

const ENV_REFERENCE = /^env\.([A-Za-z_][A-Za-z0-9_]*)$/;
const envReference = (example: string) =>
  z.string().regex(ENV_REFERENCE, `expected a reference to an environment variable, like "env.${example}" (the secret itself never goes in the config file)`);

const providerSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'accepted: 1-32 lowercase letters, digits and -, e.g. "okta"'),
  display_name: z.string().min(1).max(64).optional(),
  issuer: z.url({ protocol: /^https?$/ }),
  client_id: z.string().min(1).max(256),
  client_secret: envReference('OKTA_CLIENT_SECRET'),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'an OAuth scope')).max(20).optional(),
  groups_claim: z.string().min(1).max(128).optional(),
  // Who of this IdP's people are console administrators: decided from the verified ID token at sign-in.
  admin_groups: z.array(z.string().min(1, 'a group name (not empty)').max(256)).max(100).optional(),
  admin_emails: z.array(z.email({ error: 'an email address like "it-admin@example.com"' }).max(254)).max(100).optional(),
});

export const ssoSectionSchema = z.strictObject({
  providers: z.array(providerSchema).min(1).max(16),
  allow: z
    .strictObject({
      email_domains: z.array(z.string().regex(/^[a-z0-9.-]+\.[a-z]{2,}$/i, 'a domain like "example.com"')).max(100).optional(),
      groups: z.array(z.string().min(1).max(256)).max(1000).optional(),
    })
    .optional(),
  group_keys: z.array(z.strictObject({ group: z.string().min(1).max(256), virtual_key: envReference('VK_ENGINEERING') })).max(1000).optional(),
  default_virtual_key: envReference('VK_DEFAULT').optional(),
  seat_limit: z.int({ error: 'accepted: a whole number from 1 to 1000' }).min(1).max(1000).optional(),
  allow_virtual_key_login: z.boolean().optional(),
  unattributed: z.enum(['block', 'device']).optional(),
  unattributed_virtual_key: envReference('VK_UNATTRIBUTED').optional(),
});

export type SsoSection = z.infer<typeof ssoSectionSchema>;

export interface SsoProviderConfig {
  id: string;
  displayName: string;
  issuer: URL;
  clientId: string;
  clientSecret: Secret;
  scopes: string[];
  groupsClaim: string;
  /** People in one of these groups (the `groupsClaim` of their ID token) are console administrators. */
  adminGroups: string[];
  /** People with one of these addresses (lowercase; verified by the IdP) are console administrators. */
  adminEmails: string[];
}

/** A virtual key the gateway holds for people (never sent to a device): its reference and value. */
export interface KeyReference {
  /** `env.NAME` as written in the config or by an administrator: what logs and the admin API show. */
  reference: string;
  value: Secret;
}

export interface SsoConfig {
  providers: SsoProviderConfig[];
  allowEmailDomains: string[];
  allowGroups: string[];
  groupKeys: { group: string; key: KeyReference }[];
  defaultKey: KeyReference | undefined;
  seatLimit: number | undefined;
  allowVirtualKeyLogin: boolean;
  unattributed: UnattributedMode;
  unattributedKey: KeyReference | undefined;
  /** Resolves an administrator's `env.NAME` assignment (the same environment as the config). */
  resolveReference(reference: string): KeyReference | undefined;
}

export class SsoConfigError extends Error {
  override name = 'SsoConfigError';
}

/** Validates the section and resolves its references from `env`; throws naming the key at fault. */
export function loadSsoConfig(raw: unknown, env: NodeJS.ProcessEnv, source = 'gateway config'): SsoConfig {
  const parsed = ssoSectionSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = ['sso', ...issue.path.map(String), ...(issue.code === 'unrecognized_keys' ? [issue.keys[0] ?? ''] : [])].join('.');
    throw new SsoConfigError(`${source}: key \`${key}\`: ${issue.message}`);
  }
  const c = parsed.data;
  const resolve = (reference: string, key: string): KeyReference => {
    const name = ENV_REFERENCE.exec(reference)![1]!;
    const value = env[name];
    if (value === undefined || value === '') throw new SsoConfigError(`${source}: key \`${key}\`: the environment variable ${name} is not set (or empty)`);
    return { reference, value: new Secret(value) };
  };
  const ids = new Set<string>();
  const providers = c.providers.map((p, i) => {
    if (ids.has(p.id)) throw new SsoConfigError(`${source}: key \`sso.providers.${i}.id\`: "${p.id}" is used twice`);
    ids.add(p.id);
    const issuer = new URL(p.issuer);
    // Plain http only to a loopback IdP (development and tests): ID tokens and client secrets cross it.
    if (issuer.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname)) {
      throw new SsoConfigError(`${source}: key \`sso.providers.${i}.issuer\`: an IdP must be https (http is accepted on loopback only)`);
    }
    return {
      id: p.id,
      displayName: p.display_name ?? p.id,
      issuer,
      clientId: p.client_id,
      clientSecret: resolve(p.client_secret, `sso.providers.${i}.client_secret`).value,
      scopes: p.scopes ?? ['openid', 'email', 'profile'],
      groupsClaim: p.groups_claim ?? 'groups',
      adminGroups: p.admin_groups ?? [],
      adminEmails: (p.admin_emails ?? []).map((e) => e.toLowerCase()),
    };
  });
  const unattributed = c.unattributed ?? 'block';
  if (unattributed === 'device' && c.unattributed_virtual_key === undefined) {
    throw new SsoConfigError(`${source}: key \`sso.unattributed_virtual_key\`: required when sso.unattributed is "device" (the key unattributed requests are served under)`);
  }
  return {
    providers,
    allowEmailDomains: (c.allow?.email_domains ?? []).map((d) => d.toLowerCase()),
    allowGroups: c.allow?.groups ?? [],
    groupKeys: (c.group_keys ?? []).map((g, i) => ({ group: g.group, key: resolve(g.virtual_key, `sso.group_keys.${i}.virtual_key`) })),
    defaultKey: c.default_virtual_key === undefined ? undefined : resolve(c.default_virtual_key, 'sso.default_virtual_key'),
    seatLimit: c.seat_limit,
    allowVirtualKeyLogin: c.allow_virtual_key_login ?? true,
    unattributed,
    unattributedKey: c.unattributed_virtual_key === undefined ? undefined : resolve(c.unattributed_virtual_key, 'sso.unattributed_virtual_key'),
    resolveReference: (reference) => {
      const name = ENV_REFERENCE.exec(reference)?.[1];
      const value = name === undefined ? undefined : env[name];
      return value === undefined || value === '' ? undefined : { reference, value: new Secret(value) };
    },
  };
}

export const ENV_REFERENCE_PATTERN = ENV_REFERENCE;
