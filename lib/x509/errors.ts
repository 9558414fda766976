// Typed errors of the TLS room: callers (intercept, the gateway's CSR endpoint) branch on these.

/** The host is not a syntactically valid DNS name or IP address. */
export class InvalidHostError extends Error {
  readonly code = 'INVALID_HOST';
  readonly host: string;
  constructor(host: string, detail: string) {
    super(`invalid host ${JSON.stringify(host)}: ${detail}`);
    this.name = 'InvalidHostError';
    this.host = host;
  }
}

/**
 * The host lies outside the CA's nameConstraints: a certificate for it would be rejected by every
 * client that checks them, and signing one would defeat the point of a name-constrained CA.
 */
export class HostNotPermittedError extends Error {
  readonly code = 'HOST_NOT_PERMITTED';
  readonly host: string;
  readonly permitted: readonly string[];
  constructor(host: string, permitted: readonly string[]) {
    super(
      `host ${host} is outside the CA's permitted name subtrees (${permitted.join(', ') || 'none'}); ` +
        'refusing to issue a certificate for it',
    );
    this.name = 'HostNotPermittedError';
    this.host = host;
    this.permitted = permitted;
  }
}

/** A certificate signing request that cannot be signed: bad signature, unsupported algorithm, unparsable. */
export class CsrRejectedError extends Error {
  readonly code = 'CSR_REJECTED';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`certificate signing request rejected: ${detail}`, options);
    this.name = 'CsrRejectedError';
  }
}

/** The CA certificate or key cannot be used to issue leaves (not a CA, key mismatch, no name constraints). */
export class UnusableCaError extends Error {
  readonly code = 'UNUSABLE_CA';
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`CA cannot be used: ${detail}`, options);
    this.name = 'UnusableCaError';
  }
}
