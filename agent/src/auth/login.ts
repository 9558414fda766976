// `heimdall login --virtual-key`, daemon side: the local API hands over the key an OS user typed
// (never on a command line); it is checked, the device is enrolled with it, and both the key (for
// that user's inference) and the device token (for the sync channel) are stored.
import type tls from 'node:tls';
import type { Logger } from '../lib/logger.ts';
import type { Credentials } from './credentials.ts';
import { collectDeviceFacts, type DeviceFacts } from './device-facts.ts';
import type { DeviceKeyStore } from './device-key.ts';
import { enroll } from './enroll.ts';
import { LoginError, type LoginErrorCode } from './errors.ts';
import { parseVirtualKey } from './virtual-key.ts';

export interface LoginOptions {
  credentials: Credentials;
  /** Where the device key lives (made at the first login, the same for every user after). */
  deviceKeys: DeviceKeyStore;
  /** The configured control_url; undefined when neither control_url nor gateway_url is set. */
  controlUrl: string | undefined;
  agentVersion: string;
  logger: Logger;
  /** Defaults to reading this machine's facts. */
  deviceFacts?: (deviceId: string) => DeviceFacts;
  timeoutMs?: number;
  ca?: string;
  /** The roots to trust for an https control plane when `ca` is not given (bundled + OS store). */
  secureContext?: tls.SecureContext;
  allowInsecure?: boolean;
}

export interface LoginRequest {
  /** The OS user the local API identified as the caller (never taken from the request body). */
  osUser: string;
  /** The key as typed or piped; surrounding whitespace is ignored. */
  virtualKey: string;
}

export interface LoginResult {
  osUser: string;
  deviceId: string;
  user: { id: string; email: string };
}

// Logins on one device run one at a time, so the device token stored last is the one issued last.
const queues = new WeakMap<Credentials, Promise<unknown>>();

export function login(options: LoginOptions, request: LoginRequest): Promise<LoginResult> {
  const previous = queues.get(options.credentials) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => loginNow(options, request));
  queues.set(options.credentials, run);
  return run;
}

async function loginNow(options: LoginOptions, request: LoginRequest): Promise<LoginResult> {
  const virtualKey = parseVirtualKey(request.virtualKey);
  if (options.controlUrl === undefined || options.controlUrl.trim() === '') {
    throw new LoginError('invalid_control_url', 'no control_url is configured: set control_url (or gateway_url) in the managed configuration, then log in again');
  }
  const deviceId = options.credentials.deviceId();
  const facts = (options.deviceFacts ?? ((id: string) => collectDeviceFacts({ deviceId: id, agentVersion: options.agentVersion })))(deviceId);
  const enrolled = await enroll({
    controlUrl: options.controlUrl,
    virtualKey,
    device: facts,
    deviceKey: await options.deviceKeys.loadOrCreate(),
    osUser: request.osUser,
    logger: options.logger,
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
    ...(options.secureContext !== undefined ? { secureContext: options.secureContext } : {}),
    ...(options.allowInsecure !== undefined ? { allowInsecure: options.allowInsecure } : {}),
  });
  options.credentials.saveEnrollment({
    deviceToken: enrolled.deviceToken,
    tokenExpiresAt: enrolled.tokenExpiresAt,
    controlUrl: options.controlUrl,
    connectUrl: enrolled.connectUrl,
    osUser: request.osUser,
    virtualKey,
    userId: enrolled.user.id,
    email: enrolled.user.email,
  });
  options.logger.info({ os_user: request.osUser, user_id: enrolled.user.id, device_id: enrolled.deviceId }, 'signed in with a virtual key');
  return { osUser: request.osUser, deviceId: enrolled.deviceId, user: enrolled.user };
}

/** The local API status for each way a login can fail (the CLI prints the message). */
export const LOGIN_ERROR_STATUS: Record<LoginErrorCode, number> = {
  invalid_key_format: 400,
  invalid_request: 400,
  invalid_control_url: 409,
  rejected: 403,
  gateway_error: 502,
  bad_response: 502,
  unreachable: 504,
};

export interface LoginRouteRequest {
  caller: { uid: number; user?: string } | undefined;
  body: unknown;
}

/**
 * The handler behind the local API's `POST /v1/login` (body `{ "virtual_key": "sk-bf-..." }`): the OS
 * user is the caller the local API identified, never a field of the body. Answers 200
 * `{ os_user, device_id, user: { id, email } }` or `{ error, code }` with LOGIN_ERROR_STATUS.
 * `onLoggedIn` runs after the credentials are stored (the daemon wakes the sync client there).
 */
export function loginRouteHandler(options: LoginOptions, onLoggedIn?: (result: LoginResult) => void) {
  return async (request: LoginRouteRequest): Promise<{ status: number; body: unknown }> => {
    if (!request.caller) return { status: 403, body: { error: 'could not identify the calling OS user', code: 'unknown_caller' } };
    const osUser = request.caller.user ?? `uid:${request.caller.uid}`;
    const key = (request.body as { virtual_key?: unknown } | undefined)?.virtual_key;
    if (typeof key !== 'string') return { status: 400, body: { error: 'body must be {"virtual_key": "sk-bf-..."}', code: 'invalid_key_format' } };
    try {
      const result = await login(options, { osUser, virtualKey: key });
      onLoggedIn?.(result);
      return { status: 200, body: { os_user: result.osUser, device_id: result.deviceId, user: result.user } };
    } catch (err) {
      if (err instanceof LoginError) return { status: LOGIN_ERROR_STATUS[err.code], body: { error: err.message, code: err.code } };
      throw err;
    }
  };
}
