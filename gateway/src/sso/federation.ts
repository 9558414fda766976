// Federation to the organization's IdPs with openid-client (a certified OpenID relying party):
// discovery, authorization code + PKCE, nonce and state, ID-token validation with clock tolerance.
// Discovery is lazy and retried: an IdP that is down at start or during a sign-in gives a clear
// error for that sign-in, and the next attempt works once the IdP is back.
import * as oidc from 'openid-client';
import { SSO_TIMING } from '../../../protocol/index.ts';
import type { SsoProviderConfig } from './config.ts';

/** What the gateway keeps of a person after the IdP vouched for them. */
export interface IdpIdentity {
  providerId: string;
  issuer: string;
  subject: string;
  email: string;
  /** The ID token said `email_verified: true` (absent is not true: some IdPs never send it). */
  emailVerified: boolean;
  name: string | null;
  groups: string[];
}

/** The IdP could not be reached or answered something unusable (the person can retry later). */
export class IdpUnavailableError extends Error {
  override name = 'IdpUnavailableError';
}

/** The IdP's answer was refused (a bad or replayed response, an ID token that does not validate, a refused sign-in). */
export class IdpResponseError extends Error {
  override name = 'IdpResponseError';
}

export interface SignInChecks {
  state: string;
  nonce: string;
  verifier: string;
}

const DISCOVERY_TIMEOUT_S = 10;

export class Federation {
  readonly #providers: Map<string, SsoProviderConfig>;
  readonly #configs = new Map<string, oidc.Configuration>();

  constructor(providers: readonly SsoProviderConfig[]) {
    this.#providers = new Map(providers.map((p) => [p.id, p]));
  }

  provider(id: string): SsoProviderConfig | undefined {
    return this.#providers.get(id);
  }

  get providers(): SsoProviderConfig[] {
    return [...this.#providers.values()];
  }

  async #configuration(p: SsoProviderConfig): Promise<oidc.Configuration> {
    const known = this.#configs.get(p.id);
    if (known) return known;
    let config: oidc.Configuration;
    try {
      config = await oidc.discovery(
        p.issuer,
        p.clientId,
        // Tolerate this much skew between the IdP's clock and ours for iat/exp/nbf.
        { [oidc.clockTolerance]: SSO_TIMING.clockToleranceS },
        oidc.ClientSecretBasic(p.clientSecret.reveal()),
        {
          timeout: DISCOVERY_TIMEOUT_S,
          // http is accepted for loopback issuers only (the config refuses any other).
          ...(p.issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
        },
      );
    } catch (err) {
      throw new IdpUnavailableError(`${p.displayName} (${p.issuer.host}) could not be reached for sign-in: ${describe(err)}`);
    }
    config.timeout = DISCOVERY_TIMEOUT_S;
    this.#configs.set(p.id, config);
    return config;
  }

  /** The IdP's authorization URL for a new sign-in returning to `callbackUrl`, with fresh PKCE, nonce and state. */
  async begin(providerId: string, callbackUrl: string): Promise<{ url: URL; checks: SignInChecks }> {
    const p = this.#require(providerId);
    const config = await this.#configuration(p);
    const checks: SignInChecks = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl,
      scope: p.scopes.join(' '),
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(checks.verifier),
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
    return { url, checks };
  }

  /** Exchanges the code the IdP sent to `currentUrl` and validates the ID token; the person it names. */
  async complete(providerId: string, currentUrl: URL, checks: SignInChecks): Promise<IdpIdentity> {
    const p = this.#require(providerId);
    const config = await this.#configuration(p);
    const idpError = currentUrl.searchParams.get('error');
    if (idpError !== null) {
      const description = currentUrl.searchParams.get('error_description');
      throw new IdpResponseError(`${p.displayName} refused the sign-in: ${idpError}${description ? ` (${description.slice(0, 200)})` : ''}`);
    }
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
        pkceCodeVerifier: checks.verifier,
        expectedNonce: checks.nonce,
        expectedState: checks.state,
        idTokenExpected: true,
      });
    } catch (err) {
      if (isNetworkError(err)) throw new IdpUnavailableError(`${p.displayName} (${p.issuer.host}) could not be reached to finish the sign-in: ${describe(err)}`);
      throw new IdpResponseError(`${p.displayName}'s answer was refused: ${describe(err)}`);
    }
    const claims = tokens.claims();
    if (!claims) throw new IdpResponseError(`${p.displayName} sent no ID token`);
    const email = typeof claims['email'] === 'string' ? claims['email'].toLowerCase() : undefined;
    if (!email) throw new IdpResponseError(`${p.displayName} sent no email for this person: add the "email" scope (and claim) to the Heimdall app at the IdP`);
    // An address the IdP did not verify proves nothing about the domain (allow-list) or the user it joins.
    if (claims['email_verified'] === false) throw new IdpResponseError(`${p.displayName} has not verified the address ${email}`);
    const rawGroups = claims[p.groupsClaim];
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string').slice(0, 1000) : [];
    const name = typeof claims['name'] === 'string' ? claims['name'].slice(0, 256) : null;
    return { providerId, issuer: claims.iss, subject: claims.sub, email, emailVerified: claims['email_verified'] === true, name, groups };
  }

  #require(id: string): SsoProviderConfig {
    const p = this.#providers.get(id);
    if (!p) throw new IdpResponseError(`no identity provider "${id}" is configured`);
    return p;
  }
}

function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|UND_ERR_|ABORT_ERR)/.test(code)) return true;
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
    if (e.message === 'fetch failed') return true;
  }
  return false;
}

/** One line about an error, never a secret: openid-client's messages name checks, not values of credentials. */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 3; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    parts.push(code && !e.message.includes(code) ? `${e.message} (${code})` : e.message);
  }
  return (parts.join(': ') || String(err)).slice(0, 300);
}
