// A server's identity, the way the apps' own policy matchers see it: a stdio server is its exact
// command and arguments in order, a remote server its URL with scheme and host lowercased. The name
// is only a label. Two fingerprints come from it (docs/mcp.md "Fingerprints"):
// - the fingerprint, shared with the gateway and the same on every device: SHA-256 over the
//   *public* identity, where every part the redaction rules treat as secret is a fixed marker. It is
//   a function of what the report already shows in clear, so it lets nobody test guesses of a secret.
// - the local fingerprint, HMAC-SHA256 with the device key over the exact identity: tells apart two
//   servers that differ only in a secret, on this device only (the store, enforcement records).
import { createHash, createHmac } from 'node:crypto';
import { canonicalUrl, Redactor } from './redact.ts';
import type { NormalizedServer } from './types.ts';

export { canonicalUrl };

export type ServerIdentity = { kind: 'stdio'; command: string; args: string[] } | { kind: 'remote'; url: string };

type IdentitySource = Pick<NormalizedServer, 'transport' | 'command' | 'args' | 'url'>;

/** Secrets replaced by SECRET_MARKER: the same rules as the report, with no key involved. */
const PUBLIC = new Redactor();

export function serverIdentity(server: IdentitySource): ServerIdentity {
  if (server.transport === 'stdio') return { kind: 'stdio', command: server.command ?? '', args: [...(server.args ?? [])] };
  return { kind: 'remote', url: canonicalUrl(server.url ?? '') };
}

/** The identity as anyone may see it: each secret part (by the redaction rules) is SECRET_MARKER. */
export function publicIdentity(identity: ServerIdentity): ServerIdentity {
  if (identity.kind === 'stdio') return { kind: 'stdio', command: PUBLIC.text(identity.command), args: PUBLIC.args(identity.args) };
  return { kind: 'remote', url: PUBLIC.url(identity.url) };
}

/** Whether writing the exact identity anywhere would write a secret. */
export function carriesSecret(identity: ServerIdentity): boolean {
  const exact = identity.kind === 'remote' ? { kind: 'remote' as const, url: canonicalUrl(identity.url) } : identity;
  return material(publicIdentity(exact)) !== material(exact);
}

function material(identity: ServerIdentity): string {
  return identity.kind === 'stdio' ? JSON.stringify(['stdio', identity.command, ...identity.args]) : JSON.stringify(['remote', identity.url]);
}

/** The fleet-wide fingerprint: SHA-256 over the public identity (a server without secrets hashes as it always did). */
export function fingerprintIdentity(identity: ServerIdentity): string {
  return `sha256:${createHash('sha256').update(material(publicIdentity(identity))).digest('hex')}`;
}

export function fingerprintServer(server: IdentitySource): string {
  return fingerprintIdentity(serverIdentity(server));
}

/**
 * The fingerprint as it was computed before secrets were left out (SHA-256 over the exact identity).
 * Used only to find a decision an administrator took on it before the change (enforce.ts); never
 * reported, shown or stored.
 */
export function legacyFingerprint(identity: ServerIdentity): string {
  return `sha256:${createHash('sha256').update(material(identity)).digest('hex')}`;
}

/** A server's fingerprint; a server restored from the store brings its own (its secrets are gone). */
export function fingerprintOf(server: NormalizedServer): string {
  return server.stored?.fingerprint ?? fingerprintServer(server);
}

/** Keyed with the device key (domain-separated from the redaction hashes): never leaves the device. */
export class LocalFingerprints {
  readonly #key: Buffer;

  constructor(deviceKey: Buffer) {
    this.#key = Buffer.from(deviceKey);
  }

  /** `hmac-sha256:<hex>` of the exact identity. */
  identity(identity: ServerIdentity): string {
    return this.text(`identity\0${material(identity)}`);
  }

  /** `hmac-sha256:<hex>` of any text that must be recognised later without being kept (a policy entry). */
  text(value: string): string {
    return `hmac-sha256:${createHmac('sha256', this.#key).update(`heimdall-mcp-local\0${value}`, 'utf8').digest('hex')}`;
  }
}
