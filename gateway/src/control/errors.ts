// Errors of the control plane that callers (admin API, enrollment, CLI) turn into answers.

export type ControlErrorCode = 'invalid' | 'not_found' | 'unauthorized' | 'revoked' | 'conflict' | 'virtual_key_login_disabled';

export class ControlError extends Error {
  readonly code: ControlErrorCode;
  /** The request field at fault, for `invalid`. */
  readonly field: string | undefined;
  constructor(code: ControlErrorCode, message: string, field?: string) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
    this.field = field;
  }
}
