// The SSO room (issue 18): federation to the organization's IdPs (openid-client) and the gateway as
// the agents' OAuth authorization server (loopback + PKCE, device code, rotating refresh tokens,
// jose-signed user access tokens), and what a user token buys on inference.
export { AccessTokens, SIGNING_KEY_FILE } from './access-tokens.ts';
export { loadSsoConfig, SsoConfigError, ssoSectionSchema, type SsoConfig, type SsoProviderConfig, type KeyReference } from './config.ts';
export { createSsoHandler, isSsoPath, type SsoHttpOptions } from './http.ts';
export { SsoService, OAuthFailure, type RequestPerson, type UnattributedAnswer, type SsoServiceOptions } from './service.ts';
export { loopbackRedirectProblem } from './redirect-uri.ts';
export { ConsoleSignIns, type ConsoleSsoAdmin, type ConsoleSsoFinish, type ConsoleSsoStart, type ConsoleSsoRefusal } from './console-sign-in.ts';
