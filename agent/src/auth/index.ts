// The auth room: who this device is and who is signed in on it. Device enrollment with a user's
// virtual key (until SSO sign-in exists), the device token for the sync channel, and the virtual key
// each OS user's inference is forwarded with. Secrets live only in the store (0600, root-only dir).
export { AUTH_MIGRATIONS } from './schema.ts';
export { Credentials, type Enrollment, type SignedInUser, type SaveEnrollmentInput } from './credentials.ts';
export { enroll, type EnrollInput, type EnrollResult } from './enroll.ts';
export { FileDeviceKeyStore, DEVICE_KEY_FILE, type DeviceKey, type DeviceKeyStore } from './device-key.ts';
export { deviceKeyStoreFor } from './device-key-store.ts';
export { KeychainDeviceKeyStore, keychainAddScript, keychainFindArgs, parseKeychainFind, KEYCHAIN_NOT_FOUND_EXIT } from './device-key-keychain.ts';
export { CngDeviceKeyStore, cngPublicKeyScript, cngSignScript, eccPublicBlobToSpki, parseCngSignature } from './device-key-cng.ts';
export { DeviceTokens, type DeviceTokensOptions } from './device-token.ts';
export { signChallenge, renewDeviceToken } from './device-proof.ts';
export { login, loginRouteHandler, LOGIN_ERROR_STATUS, type LoginOptions, type LoginRequest, type LoginResult, type LoginRouteRequest } from './login.ts';
export { LoginError, LOGIN_ERROR_CODES, type LoginErrorCode } from './errors.ts';
export { parseVirtualKey, isVirtualKey } from './virtual-key.ts';
export { collectDeviceFacts, parseOsRelease, parseMacSystemVersion, type DeviceFacts, type DeviceOs } from './device-facts.ts';
export { controlEndpoint, describeUrl, type ControlEndpointOptions } from './control-url.ts';
export { TokenVault, VaultError } from './token-vault.ts';
export { FileVaultKey, VAULT_KEY_FILE, VAULT_KEY_BYTES, type VaultKeySource } from './vault-key.ts';
export { SystemdCredsVaultKey, systemdCredsEncryptArgs, systemdCredsDecryptArgs, hasSystemdCreds, VAULT_CREDENTIAL_FILE } from './vault-key-systemd.ts';
export { KeychainVaultKey, vaultKeychainFindArgs, vaultKeychainAddScript } from './vault-key-keychain.ts';
export { DpapiVaultKey, dpapiProtectScript, dpapiUnprotectScript, powershellArgs } from './vault-key-dpapi.ts';
export { vaultKeySourceFor } from './vault-key-source.ts';
export { UserTokens, type GatewayUser, type TokenSet, type SsoSignIn } from './user-tokens.ts';
export { UserSessions, REFRESH_AHEAD_MS, FIX_SIGN_IN, type UserSessionsOptions } from './user-sessions.ts';
export { SsoLogin, checkRedirectUri, PENDING_LOGIN_MS, type SsoLoginOptions, type SignInCaller, type WhoAmI } from './sso-login.ts';
export { CLIENT_ID, DISCOVERY_PATH, type Discovery } from './gateway-oauth.ts';
