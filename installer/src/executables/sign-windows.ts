// Authenticode signing of the Windows executables with osslsigncode (runs on Linux). The command
// lines are built here so the release step and the tests run exactly the same thing.

export interface WindowsSigning {
  /** PEM certificate (chain) of the code-signing key. */
  certFile: string;
  /** PEM private key; its passphrase, if any, comes from the environment, never argv. */
  keyFile: string;
  /** Shown by Windows as the program's name. */
  description?: string;
  url?: string;
  /** RFC 3161 timestamp server; without one the signature is only valid while the certificate is. */
  timestampUrl?: string;
  /** Signing time (Unix seconds) written into the signature; fixed for a reproducible signed file. */
  time?: number;
}

export function osslsigncodeSignArgs(s: WindowsSigning, input: string, output: string): string[] {
  return [
    'sign', '-certs', s.certFile, '-key', s.keyFile, '-h', 'sha256',
    '-n', s.description ?? 'Heimdall', '-i', s.url ?? 'https://github.com/heimdall',
    ...(s.timestampUrl ? ['-ts', s.timestampUrl] : []),
    ...(s.time !== undefined ? ['-time', String(s.time)] : []),
    '-in', input, '-out', output,
  ];
}

/** Verifies the signature against `caFile` (the signing certificate's issuer, or itself when self-signed). */
export function osslsigncodeVerifyArgs(file: string, caFile: string): string[] {
  return ['verify', '-CAfile', caFile, '-in', file];
}

/**
 * Removes node.exe's own Authenticode signature before the blob is injected: injecting breaks it
 * ("The signature seems corrupted"), and a clean unsigned file is what our signing step expects.
 */
export function osslsigncodeRemoveArgs(input: string, output: string): string[] {
  return ['remove-signature', '-in', input, '-out', output];
}
