// Who may sign in and which key a person gets: the rules the token endpoint and inference share.
import { describe, expect, it } from 'vitest';
import { loadSsoConfig } from '../../gateway/src/sso/index.ts';
import { allowListProblem, chooseKey } from '../../gateway/src/sso/people.ts';

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
});
