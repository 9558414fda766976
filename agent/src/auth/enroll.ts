// Device enrollment (until SSO exists): the user's virtual key goes once to the control plane's
// enroll endpoint with this device's facts and its device key's signature of a fresh gateway
// challenge; the answer is a short-lived device token for the sync channel and inference.
// Neither secret is ever logged, put in an error message, or passed on a command line.
import type tls from 'node:tls';
import { ENROLL_PATH, enrollRequestSchema, enrollResponseSchema } from '../../../protocol/index.ts';
import type { EnrollRequest } from '../../../protocol/index.ts';
import type { Logger } from '../lib/logger.ts';
import { controlEndpoint, describeUrl } from './control-url.ts';
import type { DeviceFacts } from './device-facts.ts';
import type { DeviceKey } from './device-key.ts';
import { signChallenge } from './device-proof.ts';
import { LoginError } from './errors.ts';
import { postJson, TransportError } from './post-json.ts';
import { parseVirtualKey } from './virtual-key.ts';

export interface EnrollInput {
  controlUrl: string;
  virtualKey: string;
  device: DeviceFacts;
  /** The device key pair that proves this machine (made at first enrollment, kept in the OS key store). */
  deviceKey: DeviceKey;
  osUser: string;
  logger: Logger;
  /** Deadline for the whole request (default 15 s). */
  timeoutMs?: number;
  /** The only CA (PEM) to trust for the gateway (tests, a private PKI given explicitly). */
  ca?: string;
  /** Otherwise the roots to trust (the daemon passes its bundled + OS store context). */
  secureContext?: tls.SecureContext;
  /** Accept plain http to a non-loopback control_url (development only). */
  allowInsecure?: boolean;
}

export interface EnrollResult {
  deviceToken: string;
  tokenExpiresAt: string;
  deviceId: string;
  user: { id: string; email: string };
  /** Where to open the sync channel, as the gateway named it (ws:// or wss://), if it did. */
  connectUrl: string | undefined;
}

const MAX_REPLY_BYTES = 64 * 1024;
// The gateway's error code is shown to a person; accept only a short machine word, never free text
// (free text could echo what was sent).
const GATEWAY_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;

function gatewayErrorCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' && GATEWAY_CODE.test(code) ? code : undefined;
}

function gatewayErrorField(body: unknown): string | undefined {
  const field = (body as { error?: { field?: unknown } } | undefined)?.error?.field;
  return typeof field === 'string' && /^[A-Za-z0-9_.[\]]{1,64}$/.test(field) ? field : undefined;
}

function checkedConnectUrl(raw: string, allowInsecure: boolean): string | undefined {
  if (raw === '') return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  // Same rule as for control_url: the device token does not cross a network in clear text.
  const asHttp = new URL(url.href.replace(/^ws/, 'http'));
  try {
    controlEndpoint(asHttp.href, '/', { allowInsecure });
  } catch {
    return undefined;
  }
  return url.href;
}

export async function enroll(input: EnrollInput): Promise<EnrollResult> {
  const virtualKey = parseVirtualKey(input.virtualKey);
  const url = controlEndpoint(input.controlUrl, ENROLL_PATH, { allowInsecure: input.allowInsecure ?? false });
  const where = describeUrl(url);
  const proof = await signChallenge(input.controlUrl, 'enroll', input.device.deviceId, input.deviceKey, {
    timeoutMs: input.timeoutMs,
    ca: input.ca,
    secureContext: input.secureContext,
    allowInsecure: input.allowInsecure,
  });
  const request: EnrollRequest = {
    virtual_key: virtualKey,
    device: {
      device_id: input.device.deviceId,
      hostname: input.device.hostname,
      os: input.device.os,
      os_version: input.device.osVersion,
      arch: input.device.arch,
      agent_version: input.device.agentVersion,
    },
    os_user: input.osUser,
    device_key: { public_key: input.deviceKey.publicKey, ...proof },
  };
  const checked = enrollRequestSchema.safeParse(request);
  if (!checked.success) {
    // Never the key: the only field a person controls is the key's format, checked above; anything
    // else is a device fact, named by its path.
    const issue = checked.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    throw new LoginError('invalid_request', `cannot enroll: enrollment field ${path || 'device'} is not acceptable to the protocol (${issue?.message ?? 'invalid'})`);
  }

  input.logger.info({ url: where, os_user: input.osUser, device_id: input.device.deviceId }, 'enrolling device');
  let reply;
  try {
    reply = await postJson(url, checked.data, { timeoutMs: input.timeoutMs ?? 15_000, maxResponseBytes: MAX_REPLY_BYTES, ca: input.ca, secureContext: input.secureContext });
  } catch (err) {
    const reason = err instanceof TransportError ? (err.reason === 'timeout' ? `no answer in time (${err.message})` : err.message) : 'request failed';
    input.logger.warn({ url: where, reason }, 'enrollment request failed');
    throw new LoginError('unreachable', `cannot reach the gateway at ${where}: ${reason}`);
  }

  const code = gatewayErrorCode(reply.body);
  const suffix = code ? ` (${code})` : '';
  if (reply.status >= 300 && reply.status < 400) {
    throw new LoginError('gateway_error', `enrollment at ${where} was redirected (HTTP ${reply.status}); set control_url to the gateway's final address`, { status: reply.status });
  }
  if (reply.status === 401 || reply.status === 403) {
    input.logger.warn({ url: where, status: reply.status, gateway_code: code }, 'gateway refused enrollment');
    const what = reply.status === 401 ? 'the virtual key or the device key proof was not accepted (unknown, revoked or expired)' : 'this device or key is not allowed to enroll (revoked by an administrator)';
    throw new LoginError('rejected', `enrollment refused by ${where}: HTTP ${reply.status}${suffix}: ${what}`, { status: reply.status, gatewayCode: code });
  }
  if (reply.status === 409) {
    input.logger.warn({ url: where, status: reply.status, gateway_code: code }, 'gateway refused enrollment');
    throw new LoginError('rejected', `enrollment refused by ${where}: HTTP 409${suffix}: this device id is bound to another device key; an administrator can reset it (heimdall-gateway devices reset)`, {
      status: reply.status,
      gatewayCode: code,
    });
  }
  if (reply.status < 200 || reply.status >= 300) {
    const field = reply.status === 400 ? gatewayErrorField(reply.body) : undefined;
    input.logger.warn({ url: where, status: reply.status, gateway_code: code }, 'enrollment failed');
    throw new LoginError('gateway_error', `enrollment at ${where} failed: HTTP ${reply.status}${suffix}${field ? `, field ${field}` : ''}`, {
      status: reply.status,
      gatewayCode: code,
    });
  }
  const parsed = enrollResponseSchema.safeParse(reply.body);
  if (!parsed.success || reply.tooLarge) {
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    throw new LoginError(
      'bad_response',
      `enrollment at ${where} answered HTTP ${reply.status} with a body that is not an enrollment reply${issue ? ` (${issue.path.join('.')}: ${issue.message})` : ''}`,
      { status: reply.status },
    );
  }
  if (parsed.data.device_id !== input.device.deviceId) {
    // The hello on the sync channel must name the device the token was issued for.
    throw new LoginError('bad_response', `enrollment at ${where} registered another device id than this device's; refusing the token`, { status: reply.status });
  }
  const connectUrl = checkedConnectUrl(parsed.data.control_url, input.allowInsecure ?? false);
  if (parsed.data.control_url !== '' && connectUrl === undefined) {
    input.logger.warn({ url: where }, 'gateway named an unusable sync URL at enrollment; connecting to control_url instead');
  }
  input.logger.info({ url: where, os_user: input.osUser, device_id: parsed.data.device_id, user_id: parsed.data.user.id }, 'device enrolled');
  return { deviceToken: parsed.data.device_token, tokenExpiresAt: parsed.data.token_expires_at, deviceId: parsed.data.device_id, user: parsed.data.user, connectUrl };
}
