// Who may sign in and which key a person gets: the rules the token endpoint and inference share.
import { describe, expect, it } from 'vitest';
import { loadSsoConfig } from '../../gateway/src/sso/index.ts';
import { allowListProblem, chooseKey, consoleAdminProblem } from '../../gateway/src/sso/people.ts';

const env = { S: 'secret', VK_ENG: 'sk-bf-eng', VK_SALES: 'sk-bf-sales', VK_ALL: 'sk-bf-all', VK_ALICE: 'sk-bf-alice' };
const config = loadSsoConfig(
  {
    providers: [{ id: 'corp', issuer: 'https://idp.example.com', client_id: 'c', client_secret: 'env.S' }],
    allow: { email_domains: ['example.com'], groups: ['contractors-ai'] },
    group_keys: [
      { group: 'engineering', virtual_key: 'env.VK_ENG' },
      { group: 'sales', virtual_key: 'env.VK_SALES' },
    ],
    default_virtual_key: 'env.VK_ALL',
  },
  env,
);

describe('SSO people rules', () => {
  it('admits an allowed domain or an allowed group, and nobody else', () => {
    expect(allowListProblem(config, { email: 'alice@example.com', groups: [] })).toBeUndefined();
    expect(allowListProblem(config, { email: 'alice@EXAMPLE.com', groups: [] })).toBeUndefined();
    expect(allowListProblem(config, { email: 'vendor@other.test', groups: ['contractors-ai'] })).toBeUndefined();
    expect(allowListProblem(config, { email: 'eve@example.com.evil.test', groups: ['engineering'] })).toContain('not allowed');
    expect(allowListProblem(config, { email: 'eve@sub.example.com', groups: [] })).toContain('not allowed');
  });

  it('gives the first matching group key, else the default; an assignment beats both', () => {
    const both = chooseKey(config, { assignedVirtualKey: null, groups: ['sales', 'engineering'] });
    expect(both.key?.reference).toBe('env.VK_ENG');
    expect(chooseKey(config, { assignedVirtualKey: null, groups: ['sales'] }).key?.reference).toBe('env.VK_SALES');
    expect(chooseKey(config, { assignedVirtualKey: null, groups: ['finance'] })).toMatchObject({ source: 'default' });
    expect(chooseKey(config, { assignedVirtualKey: 'env.VK_ALICE', groups: ['engineering'] })).toMatchObject({ source: 'assigned' });
    const gone = chooseKey(config, { assignedVirtualKey: 'env.GONE', groups: ['engineering'] });
    expect(gone.key).toBeUndefined();
  });

  it('makes console administrators of the listed groups and of the listed addresses the IdP verified, nobody else', () => {
    const admins = loadSsoConfig(
      { providers: [{ id: 'corp', display_name: 'Corp', issuer: 'https://idp.example.com', client_id: 'c', client_secret: 'env.S', admin_groups: ['it-admins'], admin_emails: ['Root@Example.com'] }] },
      env,
    ).providers[0]!;
    expect(admins.adminEmails).toEqual(['root@example.com']);
    expect(consoleAdminProblem(admins, { email: 'ada@example.com', emailVerified: false, groups: ['engineering', 'it-admins'] })).toBeUndefined();
    expect(consoleAdminProblem(admins, { email: 'root@example.com', emailVerified: true, groups: [] })).toBeUndefined();
    // Listed, but the ID token does not say the address is verified (absent is not true): a claim proves nothing.
    expect(consoleAdminProblem(admins, { email: 'root@example.com', emailVerified: false, groups: [] })).toContain('did not mark the address as verified');
    expect(consoleAdminProblem(admins, { email: 'bob@example.com', emailVerified: true, groups: ['sales', 'It-Admins'] })).toContain('bob@example.com is not a console administrator');
    // No admin list at all: nobody is a console administrator through this IdP.
    expect(consoleAdminProblem(config.providers[0]!, { email: 'alice@example.com', emailVerified: true, groups: ['engineering'] })).toContain('not a console administrator');
  });

  it('refuses a bad admin list naming the key at fault', () => {
    const provider = { id: 'corp', issuer: 'https://idp.example.com', client_id: 'c', client_secret: 'env.S' };
    expect(() => loadSsoConfig({ providers: [{ ...provider, admin_emails: ['it-admins'] }] }, env, 'gw.json')).toThrow(
      'gw.json: key `sso.providers.0.admin_emails.0`: an email address like "it-admin@example.com"',
    );
    expect(() => loadSsoConfig({ providers: [{ ...provider, admin_groups: [''] }] }, env, 'gw.json')).toThrow('gw.json: key `sso.providers.0.admin_groups.0`: a group name (not empty)');
    expect(() => loadSsoConfig({ providers: [{ ...provider, admin_group: ['x'] }] }, env, 'gw.json')).toThrow('key `sso.providers.0.admin_group`');
  });
});
