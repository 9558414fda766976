// Who may sign in (the allow-list) and which virtual key a person gets (an administrator's
// assignment, else the first group mapping that matches, else the default): pure rules over the
// config and what the IdP said, so the token endpoint and inference decide the same way.
import type { KeyReference, SsoConfig, SsoProviderConfig } from './config.ts';

/** Why the person may not sign in, or undefined when they may. No allow-list configured: everyone the IdP vouches for. */
export function allowListProblem(config: SsoConfig, person: { email: string; groups: readonly string[] }): string | undefined {
  if (config.allowEmailDomains.length === 0 && config.allowGroups.length === 0) return undefined;
  const domain = person.email.slice(person.email.lastIndexOf('@') + 1).toLowerCase();
  if (config.allowEmailDomains.includes(domain)) return undefined;
  if (person.groups.some((g) => config.allowGroups.includes(g))) return undefined;
  return `${person.email} is not allowed to use Heimdall: your organization admits ${describeAllowList(config)}. Ask IT for access.`;
}

function describeAllowList(config: SsoConfig): string {
  const parts: string[] = [];
  if (config.allowEmailDomains.length > 0) parts.push(`addresses at ${config.allowEmailDomains.join(', ')}`);
  if (config.allowGroups.length > 0) parts.push(`members of ${config.allowGroups.length === 1 ? 'one listed group' : `${config.allowGroups.length} listed groups`}`);
  return parts.join(' or ');
}

export type KeyChoice = { key: KeyReference; source: 'assigned' | 'group' | 'default'; group?: string } | { key: undefined; problem: string };

/** The virtual key a person gets; never sent to the device, attached by the gateway to their requests. */
export function chooseKey(config: SsoConfig, person: { assignedVirtualKey: string | null; groups: readonly string[] }): KeyChoice {
  if (person.assignedVirtualKey !== null) {
    const key = config.resolveReference(person.assignedVirtualKey);
    if (key) return { key, source: 'assigned' };
    return { key: undefined, problem: `the virtual key an administrator assigned to you (${person.assignedVirtualKey}) is not available on the gateway; contact IT` };
  }
  for (const mapping of config.groupKeys) {
    if (person.groups.includes(mapping.group)) return { key: mapping.key, source: 'group', group: mapping.group };
  }
  if (config.defaultKey) return { key: config.defaultKey, source: 'default' };
  return { key: undefined, problem: 'no virtual key is mapped to your groups and there is no default; contact IT' };
}

/**
 * Why the person the IdP vouched for is not a console administrator, or undefined when they are: a
 * member of one of the provider's `admin_groups`, or one of its `admin_emails` with an address the
 * IdP verified (an unverified address is only a claim; some IdPs let people edit it). Decided from the
 * validated ID token only, never from anything the browser sends.
 */
export function consoleAdminProblem(
  provider: Pick<SsoProviderConfig, 'displayName' | 'adminGroups' | 'adminEmails'>,
  person: { email: string; emailVerified: boolean; groups: readonly string[] },
): string | undefined {
  if (person.groups.some((g) => provider.adminGroups.includes(g))) return undefined;
  if (provider.adminEmails.includes(person.email.toLowerCase())) {
    if (person.emailVerified) return undefined;
    return `${person.email} is listed as a console administrator, but ${provider.displayName} did not mark the address as verified (email_verified), so it proves nothing; use admin_groups for this IdP, or have it verify addresses`;
  }
  return `${person.email} is not a console administrator of this gateway: ask IT to add you to one of ${provider.displayName}’s administrator groups (sso.providers[].admin_groups) or admin_emails`;
}
