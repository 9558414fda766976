// The reusable test IdP (test/helpers/oidc-idp.ts) is a real OpenID Provider: a relying party
// (openid-client, the library the gateway federates with) signs a person in through its login form,
// a wrong password is refused, and stop/start takes it down and back on the same issuer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { signInWithPassword, TestIdp } from '../helpers/oidc-idp.ts';

const REDIRECT = 'http://127.0.0.1:1/rp-callback';
const idp = new TestIdp({ clients: [{ clientId: 'rp', clientSecret: 'rp-secret-0123456789', redirectUris: [REDIRECT] }] });

beforeAll(async () => {
  await idp.start();
});
afterAll(async () => {
  await idp.stop();
});

async function authorizeUrl() {
  const config = await oidc.discovery(new URL(idp.issuer), 'rp', 'rp-secret-0123456789', undefined, { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid email profile groups',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  return { config, url, verifier, nonce, state };
}

describe('test IdP', () => {
  it('signs alice in through the password form; the ID token carries email, name and groups', async () => {
    const { config, url, verifier, nonce, state } = await authorizeUrl();
    const result = await signInWithPassword(url, { username: 'alice', password: 'alice-Pa55word' }, { follow: [idp.issuer] });
    expect(result.redirect?.origin).toBe('http://127.0.0.1:1');
    const tokens = await oidc.authorizationCodeGrant(config, result.redirect!, { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true });
    const claims = tokens.claims()!;
    expect(claims.sub).toBe('alice');
    expect(claims.email).toBe('alice@example.com');
    expect(claims.name).toBe('Alice Example');
    expect(claims.groups).toEqual(['engineering']);
    expect(idp.logins).toContain('alice');
  });

  it('refuses a wrong password with the form again', async () => {
    const { url } = await authorizeUrl();
    const result = await signInWithPassword(url, { username: 'alice', password: 'wrong' }, { follow: [idp.issuer] });
    expect(result.redirect).toBeUndefined();
    expect(result.final.status).toBe(401);
    expect(result.body).toContain('Invalid username or password');
  });

  it('goes down and comes back on the same issuer', async () => {
    await idp.stop();
    await expect(fetch(`${idp.issuer}/.well-known/openid-configuration`)).rejects.toThrow();
    await idp.start();
    const r = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    expect(((await r.json()) as { issuer: string }).issuer).toBe(idp.issuer);
  });
});
