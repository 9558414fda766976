// A real OpenID Provider for tests (issue 18): `oidc-provider` on loopback acting as the
// organization's IdP, with an account store of people with passwords and groups, and a real login
// form that checks the password (not devInteractions, which accepts anyone). `stop()` takes it down
// ("IdP down") and `start()` brings it back on the same issuer URL with the same signing keys.
//
// The form: GET /interaction/<uid> is an HTML page with `<input name="username">`,
// `<input name="password" type="password">` and `<button type="submit">Sign in</button>`, posting to
// /interaction/<uid>/login. A wrong password answers 401 with the form again and "Invalid username
// or password". Consent is granted without a page (a first-party client, as a company IdP does for
// its own apps). Headless Chromium can fill it; `signInWithPassword` drives it with fetch + cookies.
import { generateKeyPairSync } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';

export interface IdpUser {
  username: string;
  password: string;
  email: string;
  name: string;
  groups: string[];
  /** Set false to model an IdP that has not verified the address. */
  emailVerified?: boolean;
}

export const DEFAULT_IDP_USERS: IdpUser[] = [
  { username: 'alice', password: 'alice-Pa55word', email: 'alice@example.com', name: 'Alice Example', groups: ['engineering'] },
  { username: 'bob', password: 'bob-Pa55word', email: 'bob@example.com', name: 'Bob Example', groups: ['sales'] },
  { username: 'mallory', password: 'mallory-Pa55word', email: 'mallory@evil.test', name: 'Mallory Outsider', groups: ['engineering'] },
];

export interface IdpClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  /** `native` lets a loopback redirect URI match on any port (RFC 8252 7.3): a gateway on an ephemeral port. */
  applicationType?: 'web' | 'native';
}

export interface TestIdpOptions {
  users?: IdpUser[];
  clients: IdpClient[];
  /** ID token lifetime in seconds (default 3600). */
  idTokenTtlS?: number;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid: string, error?: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Example Corp sign-in</title></head><body>
<h1>Example Corp</h1>${error ? `<p role="alert" id="error">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Username <input name="username" id="username" autocomplete="username" autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="submit">Sign in</button>
</form></body></html>`;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export class TestIdp {
  readonly users: Map<string, IdpUser>;
  readonly #options: TestIdpOptions;
  readonly #jwks: { keys: object[] };
  #server: http.Server | undefined;
  #port = 0;
  #provider: Provider | undefined;
  /** Successful password checks, in order (tests assert who signed in). */
  readonly logins: string[] = [];

  constructor(options: TestIdpOptions) {
    this.#options = options;
    this.users = new Map((options.users ?? DEFAULT_IDP_USERS).map((u) => [u.username, u]));
    // One signing key for the IdP's whole life, so a restart keeps the JWKS relying parties cached.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.#jwks = { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-idp-1', use: 'sig', alg: 'RS256' }] };
  }

  /** The issuer URL (`http://127.0.0.1:<port>`); stable across stop/start. */
  get issuer(): string {
    if (this.#port === 0) throw new Error('TestIdp not started');
    return `http://127.0.0.1:${this.#port}`;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  async start(): Promise<this> {
    if (this.#server) return this;
    const server = http.createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => resolve());
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#provider ??= this.#makeProvider();
    this.#server = server;
    return this;
  }

  /** Takes the IdP down: the port refuses connections until `start()`. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  #makeProvider(): Provider {
    const users = this.users;
    const config: Configuration = {
      clients: this.#options.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: c.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        application_type: c.applicationType ?? 'web',
      })),
      jwks: this.#jwks,
      claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
      // Put the requested claims in the ID token itself, as Okta and Entra ID do for groups.
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false } },
      ttl: { IdToken: this.#options.idTokenTtlS ?? 3600, AccessToken: 3600, Interaction: 600, Grant: 3600, Session: 3600 },
      cookies: { keys: ['test-idp-cookie-key-0123456789'] },
      interactions: { url: (_ctx: KoaContextWithOIDC, interaction) => `/interaction/${interaction.uid}` },
      findAccount: (_ctx, id) => {
        const user = users.get(id);
        if (!user) return undefined;
        return {
          accountId: id,
          claims: () => ({ sub: id, email: user.email, email_verified: user.emailVerified ?? true, name: user.name, groups: user.groups }),
        };
      },
      // A first-party client: consent is implied (a company IdP does not ask its employees).
      loadExistingGrant: async (ctx) => {
        const accountId = ctx.oidc.session?.accountId;
        const client = ctx.oidc.client;
        if (!accountId || !client) return undefined;
        const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId });
        grant.addOIDCScope('openid email profile groups');
        await grant.save();
        return grant;
      },
    };
    const provider = new Provider(this.issuer, config);
    return provider;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const provider = this.#provider!;
    const url = new URL(req.url ?? '/', this.issuer);
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
    if (!match) return void provider.callback()(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== match[1]) throw new Error('interaction mismatch');
      if (details.prompt.name === 'consent') {
        // Consent is implied for the organization's own apps; native clients always get this prompt.
        const grant = new provider.Grant({ clientId: typeof details.params['client_id'] === 'string' ? details.params['client_id'] : '', accountId: details.session!.accountId });
        grant.addOIDCScope(typeof details.params['scope'] === 'string' ? details.params['scope'] : 'openid');
        await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
        return;
      }
      if (!match[2]) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid));
        return;
      }
      if (req.method !== 'POST') return void res.writeHead(405).end();
      const form = await readForm(req);
      const user = this.users.get(form.get('username') ?? '');
      if (!user || user.password !== form.get('password')) {
        res.writeHead(401, { 'content-type': 'text/html; charset=utf-8' }).end(loginPage(details.uid, 'Invalid username or password'));
        return;
      }
      this.logins.push(user.username);
      await provider.interactionFinished(req, res, { login: { accountId: user.username } }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`sign-in failed: ${(err as Error).message}`);
    }
  }
}

/** A minimal cookie jar for fetch (name=value per host; enough for an IdP's session cookies on loopback). */
export class CookieJar {
  readonly #cookies = new Map<string, Map<string, string>>();

  header(url: URL): string | undefined {
    const jar = this.#cookies.get(url.host);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(url: URL, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      if (eq <= 0) continue;
      const jar = this.#cookies.get(url.host) ?? new Map<string, string>();
      const value = pair!.slice(eq + 1).trim();
      if (/;\s*max-age=0/i.test(line) || /;\s*expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(pair!.slice(0, eq).trim());
      else jar.set(pair!.slice(0, eq).trim(), value);
      this.#cookies.set(url.host, jar);
    }
  }
}

/** One fetch with the jar, never following redirects. */
export async function jarFetch(jar: CookieJar, url: string | URL, init: RequestInit = {}): Promise<Response> {
  const target = new URL(url);
  const headers = new Headers(init.headers);
  const cookie = jar.header(target);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(target, { ...init, headers, redirect: 'manual' });
  jar.store(target, response);
  return response;
}

export interface BrowserResult {
  /** The first redirect that leaves the IdP and the gateway (the agent's loopback redirect_uri), or undefined. */
  redirect: URL | undefined;
  /** The last response when the walk stopped on a page instead (an error page, a wrong password). */
  final: Response;
  body: string;
}

/**
 * Walks a browser sign-in the way a person's browser would: starts at `start`, follows redirects
 * across the gateway and the IdP, fills the IdP's login form with the user's password, and stops at
 * the first redirect to a host that is neither (`stopAt`, default: any URL whose origin is not in
 * `follow`) or at a page that is not the login form.
 */
export async function signInWithPassword(
  start: string | URL,
  user: { username: string; password: string },
  options: { follow: string[]; jar?: CookieJar; maxSteps?: number },
): Promise<BrowserResult> {
  const jar = options.jar ?? new CookieJar();
  const follow = new Set(options.follow.map((u) => new URL(u).origin));
  let url = new URL(start);
  let init: RequestInit = {};
  for (let step = 0; step < (options.maxSteps ?? 20); step += 1) {
    const response = await jarFetch(jar, url, init);
    init = {};
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url);
      await response.body?.cancel();
      if (!follow.has(next.origin)) return { redirect: next, final: response, body: '' };
      url = next;
      continue;
    }
    const body = await response.text();
    const form = /<form method="post" action="(\/interaction\/[A-Za-z0-9_-]+\/login)"/.exec(body);
    if (form && response.status === 200) {
      url = new URL(form[1]!, url);
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: user.username, password: user.password }).toString(),
      };
      continue;
    }
    return { redirect: undefined, final: response, body };
  }
  throw new Error(`sign-in did not finish within ${options.maxSteps ?? 20} steps (last URL ${url.href})`);
}
