// SSO between agent and gateway (issue 18): the gateway is the agents' OAuth 2.0 authorization server
// (RFC 8252 loopback + PKCE, RFC 8628 device grant, RFC 8414 discovery). Paths, timings, the form
// bodies of the token endpoint, and the JSON answers; docs/protocol.md section 2b is the prose.
import { z } from 'zod';
import { deviceIdSchema, deviceProofSchema, enrollRequestSchema, osUserSchema, timestampSchema, userIdSchema } from './messages.ts';

/** RFC 8414 metadata of the gateway as the agents' authorization server. */
export const OAUTH_METADATA_PATH = '/.well-known/oauth-authorization-server';
export const OAUTH_AUTHORIZE_PATH = '/oauth/authorize';
export const OAUTH_TOKEN_PATH = '/oauth/token';
export const OAUTH_DEVICE_AUTHORIZATION_PATH = '/oauth/device_authorization';
export const OAUTH_REVOKE_PATH = '/oauth/revoke';
export const OAUTH_JWKS_PATH = '/oauth/jwks';
/** Where the organization's IdP returns the person (register `<public_url>/oauth/callback` at the IdP). */
export const OAUTH_CALLBACK_PATH = '/oauth/callback';
/** The page where a person types a device-grant user code (`verification_uri`). */
export const OAUTH_DEVICE_PAGE_PATH = '/oauth/device';
/** The public client id every Heimdall agent uses (a native app holds no secret: RFC 8252 8.4). */
export const AGENT_CLIENT_ID = 'heimdall-agent';
/** `aud` of every user access token. */
export const USER_TOKEN_AUDIENCE = 'heimdall-gateway';
/** The header carrying the person's access token on inference requests, beside the device token. */
export const USER_TOKEN_HEADER = 'x-heimdall-user-token';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** Refresh tokens start with this, so a leaked one is recognisable by secret scanners. */
export const REFRESH_TOKEN_PREFIX = 'hrt_';

export const SSO_TIMING = {
  /** A user access token's lifetime; the agent refreshes ahead of it. */
  accessTokenTtlS: 600,
  /** A refresh family dies when unused this long... */
  refreshIdleS: 30 * 86_400,
  /** ...and at the latest this long after the sign-in, used or not. */
  refreshAbsoluteS: 90 * 86_400,
  /** An authorization code handed to the agent's loopback redirect: single use, this long. */
  authorizationCodeTtlS: 60,
  /** A sign-in started at /oauth/authorize must come back from the IdP within this. */
  signInTtlS: 600,
  /** A device-grant code pair lives this long. */
  deviceCodeTtlS: 600,
  /** The device grant's polling interval (RFC 8628 3.2); polling faster gets `slow_down`. */
  deviceCodeIntervalS: 5,
  /** Tolerance for the IdP's and the agents' clocks when checking `iat`/`exp`/`nbf`. */
  clockToleranceS: 60,
} as const;

// ---- discovery (RFC 8414) ---------------------------------------------------------------------

export const authorizationServerMetadataSchema = z
  .object({
    issuer: z.string().meta({ description: "The gateway's public URL; `iss` of every user access token." }),
    authorization_endpoint: z.string(),
    token_endpoint: z.string(),
    device_authorization_endpoint: z.string(),
    revocation_endpoint: z.string(),
    jwks_uri: z.string(),
    response_types_supported: z.array(z.literal('code')),
    grant_types_supported: z.array(z.enum(['authorization_code', 'refresh_token', DEVICE_CODE_GRANT])),
    code_challenge_methods_supported: z.array(z.literal('S256')),
    token_endpoint_auth_methods_supported: z.array(z.literal('none')),
    heimdall_sso_enabled: z.boolean().meta({ description: 'An IdP is configured: `heimdall login` signs in through the browser.' }),
    heimdall_virtual_key_login: z.boolean().meta({ description: 'The organization allows `heimdall login --virtual-key` (POST /edge/v1/enroll with a key).' }),
  })
  .meta({ title: 'authorization server metadata', description: `GET ${OAUTH_METADATA_PATH}, no authentication.` });

// ---- token endpoint (application/x-www-form-urlencoded) ----------------------------------------

/** The form field `device_enrollment` of the two sign-in grants, when the device is not enrolled yet: a JSON text. */
export const deviceEnrollmentSchema = z
  .object({
    device: enrollRequestSchema.shape.device,
    device_key: deviceProofSchema.meta({ description: 'The device key and its proof with purpose `enroll` (challenge from POST /edge/v1/challenge).' }),
  })
  .meta({ description: 'JSON in the form field `device_enrollment`: the person\'s sign-in authorizes the device\'s first enrollment, under the binding rules of /edge/v1/enroll.' });

const clientId = z.literal(AGENT_CLIENT_ID);
const deviceEnrollmentField = z
  .string()
  .max(8 * 1024)
  .optional()
  .meta({ description: 'JSON of `device_enrollment` (above); only when the request has no `x-heimdall-device-token` header.' });

export const oauthTokenRequestSchema = z
  .discriminatedUnion('grant_type', [
    z.object({
      grant_type: z.literal('authorization_code'),
      client_id: clientId,
      code: z.string().min(16).max(256),
      redirect_uri: z.string().max(2048).meta({ description: 'The same loopback redirect_uri as at /oauth/authorize.' }),
      code_verifier: z.string().regex(/^[A-Za-z0-9._~-]{43,128}$/, 'RFC 7636: 43-128 unreserved characters'),
      os_user: osUserSchema,
      device_enrollment: deviceEnrollmentField,
    }),
    z.object({
      grant_type: z.literal(DEVICE_CODE_GRANT),
      client_id: clientId,
      device_code: z.string().min(16).max(256),
      os_user: osUserSchema,
      device_enrollment: deviceEnrollmentField,
    }),
    z.object({
      grant_type: z.literal('refresh_token'),
      client_id: clientId,
      refresh_token: z.string().min(16).max(256),
    }),
  ])
  .meta({
    title: 'oauth token request',
    description: `POST ${OAUTH_TOKEN_PATH}, application/x-www-form-urlencoded. Device proof: header \`x-heimdall-device-token\` (always for refresh_token), or \`device_enrollment\` for a device not enrolled yet.`,
  });

export const oauthTokenResponseSchema = z
  .object({
    access_token: z.string().meta({ description: 'The user access token (JWT, EdDSA): send it as `x-heimdall-user-token` with the device token.' }),
    token_type: z.literal('Bearer'),
    expires_in: z.int().min(1),
    refresh_token: z.string().startsWith(REFRESH_TOKEN_PREFIX).meta({ description: 'Rotates on every use; only its hash is kept. Refreshing needs the same device\'s device token.' }),
    heimdall_user: z.object({ id: userIdSchema, email: z.string(), name: z.string().nullable() }),
    device_id: deviceIdSchema,
    device_token: z.string().min(16).optional().meta({ description: 'Only when this call enrolled the device: as in the enroll response.' }),
    device_token_expires_at: timestampSchema.optional(),
    control_url: z.string().optional(),
  })
  .meta({ title: 'oauth token response', description: '200 on success. Errors are RFC 6749 `{ error, error_description }` (oauth error).' });

export const oauthErrorCodeSchema = z.enum([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unsupported_grant_type',
  'access_denied',
  'authorization_pending',
  'slow_down',
  'expired_token',
  'invalid_device',
  'temporarily_unavailable',
  'server_error',
]);

export const oauthErrorSchema = z
  .object({ error: oauthErrorCodeSchema, error_description: z.string() })
  .meta({
    title: 'oauth error',
    description:
      '400 for the RFC 6749/8628 codes; 401 `invalid_device` when the device token is missing, unknown or another device\'s; 403 `access_denied` for a revoked device or user, the seat limit ("Device limit reached — contact IT") and the allow-list.',
  });

// ---- device authorization (RFC 8628) ------------------------------------------------------------

export const deviceAuthorizationResponseSchema = z
  .object({
    device_code: z.string(),
    user_code: z.string().meta({ description: 'Eight letters shown as `XXXX-XXXX`; no vowels, so no words.' }),
    verification_uri: z.string(),
    verification_uri_complete: z.string(),
    expires_in: z.int().min(1),
    interval: z.int().min(1),
  })
  .meta({ title: 'device authorization response', description: `POST ${OAUTH_DEVICE_AUTHORIZATION_PATH}, form \`client_id=${AGENT_CLIENT_ID}\`.` });

// ---- the user access token ----------------------------------------------------------------------

export const userAccessClaimsSchema = z
  .object({
    iss: z.string(),
    aud: z.literal(USER_TOKEN_AUDIENCE),
    sub: userIdSchema,
    did: deviceIdSchema.meta({ description: 'The device the token was issued to: inference must carry that device\'s device token.' }),
    osu: osUserSchema.meta({ description: 'The OS user of that device it was issued for.' }),
    sid: z.string().meta({ description: 'The sign-in (refresh family) it belongs to; revoking the family ends it at once.' }),
    email: z.string(),
    iat: z.int(),
    exp: z.int(),
    jti: z.string(),
  })
  .meta({ title: 'user access token claims', description: 'JWT payload, header `{ alg: "EdDSA", kid }`, keys at /oauth/jwks.' });

export type AuthorizationServerMetadata = z.infer<typeof authorizationServerMetadataSchema>;
export type DeviceEnrollment = z.infer<typeof deviceEnrollmentSchema>;
export type OAuthTokenRequest = z.infer<typeof oauthTokenRequestSchema>;
export type OAuthTokenResponse = z.infer<typeof oauthTokenResponseSchema>;
export type OAuthErrorCode = z.infer<typeof oauthErrorCodeSchema>;
export type OAuthError = z.infer<typeof oauthErrorSchema>;
export type DeviceAuthorizationResponse = z.infer<typeof deviceAuthorizationResponseSchema>;
export type UserAccessClaims = z.infer<typeof userAccessClaimsSchema>;
