// Typed errors of the auth room. None of them ever carries the virtual key or the device token:
// messages name the endpoint, the HTTP status and the gateway's error code, nothing the caller sent.

export const LOGIN_ERROR_CODES = [
  /** The text given is not a virtual key (`sk-bf-...`). */
  'invalid_key_format',
  /** control_url is missing, not a URL, or plain http to a host other than loopback. */
  'invalid_control_url',
  /** This device's facts or the OS user name do not fit the protocol (a bug or an odd hostname). */
  'invalid_request',
  /** The gateway refused the key or the device (HTTP 401/403). */
  'rejected',
  /** The gateway answered with another non-2xx status. */
  'gateway_error',
  /** The gateway could not be reached (DNS, TCP, TLS) or did not answer in time. */
  'unreachable',
  /** The gateway answered 2xx with a body that is not an enrollment reply. */
  'bad_response',
] as const;
export type LoginErrorCode = (typeof LOGIN_ERROR_CODES)[number];

export class LoginError extends Error {
  readonly code: LoginErrorCode;
  /** HTTP status from the gateway, when it answered. */
  readonly status: number | undefined;
  /** The gateway's own error code (`error.code` in its JSON body), when it gave one. */
  readonly gatewayCode: string | undefined;

  constructor(code: LoginErrorCode, message: string, details: { status?: number; gatewayCode?: string } = {}) {
    super(message);
    this.name = 'LoginError';
    this.code = code;
    this.status = details.status;
    this.gatewayCode = details.gatewayCode;
  }
}
