// The agent's half of device identity over HTTP: fetch a gateway challenge and sign it with the
// device key (enrollment and token renewal), and renew the short-lived device token with it.
import type tls from 'node:tls';
import { CHALLENGE_PATH, TOKEN_PATH, challengeResponseSchema, deviceProofText, tokenResponseSchema, type DeviceProofPurpose } from '../../../protocol/index.ts';
import { controlEndpoint, describeUrl } from './control-url.ts';
import type { DeviceKey } from './device-key.ts';
import { LoginError } from './errors.ts';
import { postJson, TransportError } from './post-json.ts';

export interface ControlRequestOptions {
  timeoutMs?: number | undefined;
  ca?: string | undefined;
  secureContext?: tls.SecureContext | undefined;
  allowInsecure?: boolean | undefined;
}

const MAX_REPLY_BYTES = 16 * 1024;

async function post(controlUrl: string, pathname: string, body: unknown, o: ControlRequestOptions): Promise<{ status: number; body: unknown; where: string }> {
  const url = controlEndpoint(controlUrl, pathname, { allowInsecure: o.allowInsecure ?? false });
  const where = describeUrl(url);
  try {
    const reply = await postJson(url, body, { timeoutMs: o.timeoutMs ?? 15_000, maxResponseBytes: MAX_REPLY_BYTES, ca: o.ca, secureContext: o.secureContext });
    return { status: reply.status, body: reply.body, where };
  } catch (err) {
    const reason = err instanceof TransportError ? err.message : 'request failed';
    throw new LoginError('unreachable', `cannot reach the gateway at ${where}: ${reason}`);
  }
}

function gatewayCode(body: unknown): string | undefined {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' && /^[a-z][a-z0-9_.-]{0,63}$/.test(code) ? code : undefined;
}

/** A fresh gateway challenge signed by the device key for `purpose`. */
export async function signChallenge(controlUrl: string, purpose: DeviceProofPurpose, deviceId: string, key: DeviceKey, o: ControlRequestOptions): Promise<{ challenge: string; signature: string }> {
  const reply = await post(controlUrl, CHALLENGE_PATH, {}, o);
  const parsed = challengeResponseSchema.safeParse(reply.body);
  if (reply.status !== 200 || !parsed.success) {
    throw new LoginError('gateway_error', `the gateway at ${reply.where} gave no device challenge (HTTP ${reply.status}); it may predate device keys`, { status: reply.status });
  }
  const signature = await key.sign(deviceProofText(purpose, parsed.data.challenge, deviceId));
  return { challenge: parsed.data.challenge, signature: signature.toString('base64') };
}

/** A new device token for a challenge signed by the device key; `rejected` (401/403) means enroll again or revoked. */
export async function renewDeviceToken(controlUrl: string, deviceId: string, key: DeviceKey, o: ControlRequestOptions): Promise<{ token: string; expiresAt: string }> {
  const proof = await signChallenge(controlUrl, 'token', deviceId, key, o);
  const reply = await post(controlUrl, TOKEN_PATH, { device_id: deviceId, ...proof }, o);
  const code = gatewayCode(reply.body);
  if (reply.status === 401 || reply.status === 403) {
    throw new LoginError('rejected', `the gateway at ${reply.where} refused this device's token renewal: HTTP ${reply.status}${code ? ` (${code})` : ''}`, {
      status: reply.status,
      ...(code ? { gatewayCode: code } : {}),
    });
  }
  const parsed = tokenResponseSchema.safeParse(reply.body);
  if (reply.status !== 200 || !parsed.success) {
    throw new LoginError('gateway_error', `token renewal at ${reply.where} failed: HTTP ${reply.status}${code ? ` (${code})` : ''}`, { status: reply.status });
  }
  return { token: parsed.data.device_token, expiresAt: parsed.data.expires_at };
}
