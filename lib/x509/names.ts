// Host names and X.509 name constraints: normalising hosts, encoding the CA's nameConstraints
// extension (node-forge has no encoder for it) and deciding whether a name lies inside it.
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import forge from 'node-forge';
import { InvalidHostError } from './errors.ts';

const { asn1 } = forge;

export const NAME_CONSTRAINTS_OID = '2.5.29.30';

// GeneralName CHOICE tags (RFC 5280 4.2.1.6), implicitly tagged.
const GENERAL_NAME_DNS = 2;
const GENERAL_NAME_IP = 7;

/** A subtree of a nameConstraints extension, reduced to the two name forms TLS servers are checked by. */
export type NameSubtree = { kind: 'dns'; name: string } | { kind: 'ip'; address: Buffer; mask: Buffer };

export interface NameConstraints {
  permitted: NameSubtree[];
  excluded: NameSubtree[];
}

export type HostKind = 'dns' | 'ip';

export interface NormalisedHost {
  host: string;
  kind: HostKind;
}

const LDH_HOST = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Lowercases a host, drops a trailing dot and IPv6 brackets, converts an IDN to its A-label form,
 * and checks it is a DNS name of letters, digits and hyphens or an IP address. Wildcards are refused:
 * leaves are minted per exact host.
 */
export function normaliseHost(input: string): NormalisedHost {
  let host = input.trim();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (isIP(host) !== 0) return { host: host.toLowerCase(), kind: 'ip' };
  if (host.endsWith('.')) host = host.slice(0, -1);
  // The common case (already lowercase ASCII) skips the IDN conversion.
  if (!LDH_HOST.test(host)) {
    if (host.includes('*')) throw new InvalidHostError(input, 'wildcards are not accepted; name the exact host');
    const ascii = domainToASCII(host);
    if (ascii === '' || !LDH_HOST.test(ascii)) {
      throw new InvalidHostError(input, 'expected a DNS name (letters, digits, hyphens, dots) or an IP address');
    }
    host = ascii;
  }
  return { host, kind: 'dns' };
}

function ipBytes(address: string): Buffer {
  // forge's helper is missing from its type declarations.
  const bytes = (forge.util as unknown as { bytesFromIP(ip: string): string | null }).bytesFromIP(address);
  if (bytes === null) throw new InvalidHostError(address, 'not an IP address');
  return Buffer.from(bytes, 'binary');
}

/**
 * The constraints for a CA that may only vouch for `domains`: each DNS name permits itself and its
 * subdomains (RFC 5280 dNSName subtree semantics); each IP address permits exactly that address.
 * When no IP address is listed, every IPv4 and IPv6 address is excluded, because a CA whose
 * constraints only mention DNS names would otherwise be unconstrained for IP addresses.
 */
export function constraintsForDomains(domains: readonly string[]): NameConstraints {
  const permitted: NameSubtree[] = [];
  const seen = new Set<string>();
  for (const domain of domains) {
    const { host, kind } = normaliseHost(domain);
    if (seen.has(host)) continue;
    seen.add(host);
    if (kind === 'dns') permitted.push({ kind: 'dns', name: host });
    else {
      const address = ipBytes(host);
      permitted.push({ kind: 'ip', address, mask: Buffer.alloc(address.length, 0xff) });
    }
  }
  if (!permitted.some((s) => s.kind === 'dns')) {
    throw new RangeError(`a name-constrained CA needs at least one permitted DNS name, got [${domains.join(', ')}]`);
  }
  const excluded: NameSubtree[] = permitted.some((s) => s.kind === 'ip')
    ? []
    : [
        { kind: 'ip', address: Buffer.alloc(4), mask: Buffer.alloc(4) },
        { kind: 'ip', address: Buffer.alloc(16), mask: Buffer.alloc(16) },
      ];
  return { permitted, excluded };
}

function subtreeToAsn1(subtree: NameSubtree): forge.asn1.Asn1 {
  const base =
    subtree.kind === 'dns'
      ? asn1.create(asn1.Class.CONTEXT_SPECIFIC, GENERAL_NAME_DNS, false, subtree.name)
      : asn1.create(
          asn1.Class.CONTEXT_SPECIFIC,
          GENERAL_NAME_IP,
          false,
          Buffer.concat([subtree.address, subtree.mask]).toString('binary'),
        );
  // GeneralSubtree ::= SEQUENCE { base, minimum DEFAULT 0, maximum OPTIONAL }: DER omits the default.
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [base]);
}

/** DER of a NameConstraints value (RFC 5280 4.2.1.10), as a forge binary string for a raw extension. */
export function encodeNameConstraints(constraints: NameConstraints): string {
  const parts: forge.asn1.Asn1[] = [];
  if (constraints.permitted.length > 0) {
    parts.push(asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, constraints.permitted.map(subtreeToAsn1)));
  }
  if (constraints.excluded.length > 0) {
    parts.push(asn1.create(asn1.Class.CONTEXT_SPECIFIC, 1, true, constraints.excluded.map(subtreeToAsn1)));
  }
  return asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, parts)).getBytes();
}

/** A forge certificate extension carrying `constraints`, critical as RFC 5280 requires. */
export function nameConstraintsExtension(constraints: NameConstraints): { id: string; critical: true; value: string } {
  return { id: NAME_CONSTRAINTS_OID, critical: true, value: encodeNameConstraints(constraints) };
}

interface ParsedSubtree {
  type: number;
  value: unknown;
}

interface ParsedNameConstraintsExtension {
  id: string;
  critical: boolean;
  permittedSubtrees?: ParsedSubtree[];
  excludedSubtrees?: ParsedSubtree[];
  unsupportedSubtreeRange?: boolean;
}

function fromParsed(list: ParsedSubtree[] | undefined): NameSubtree[] {
  const out: NameSubtree[] = [];
  for (const s of list ?? []) {
    if (typeof s.value !== 'string') continue;
    if (s.type === GENERAL_NAME_DNS) out.push({ kind: 'dns', name: s.value.toLowerCase() });
    else if (s.type === GENERAL_NAME_IP && (s.value.length === 8 || s.value.length === 32)) {
      const raw = Buffer.from(s.value, 'binary');
      const half = raw.length / 2;
      out.push({ kind: 'ip', address: raw.subarray(0, half), mask: raw.subarray(half) });
    }
  }
  return out;
}

/**
 * The nameConstraints of a parsed certificate (forge parses the extension since 1.4), or undefined
 * when it has none. `critical` says whether the extension is marked critical.
 */
export function readNameConstraints(cert: forge.pki.Certificate): (NameConstraints & { critical: boolean }) | undefined {
  const ext = (cert.extensions as ParsedNameConstraintsExtension[]).find((e) => e.id === NAME_CONSTRAINTS_OID);
  if (!ext) return undefined;
  if (!ext.permittedSubtrees && !ext.excludedSubtrees) throw new Error('the nameConstraints extension cannot be parsed');
  return { permitted: fromParsed(ext.permittedSubtrees), excluded: fromParsed(ext.excludedSubtrees), critical: ext.critical };
}

function dnsMatches(host: string, constraint: string): boolean {
  if (constraint === '') return true;
  // A leading dot means subdomains only (a common reading of RFC 5280 that OpenSSL follows).
  if (constraint.startsWith('.')) return host.endsWith(constraint);
  return host === constraint || host.endsWith(`.${constraint}`);
}

function ipMatches(address: Buffer, subtree: { address: Buffer; mask: Buffer }): boolean {
  if (address.length !== subtree.address.length) return false;
  for (let i = 0; i < address.length; i++) {
    if ((address[i]! & subtree.mask[i]!) !== (subtree.address[i]! & subtree.mask[i]!)) return false;
  }
  return true;
}

function subtreeMatches(name: NormalisedHost, subtree: NameSubtree, address: Buffer | undefined): boolean {
  if (name.kind === 'dns') return subtree.kind === 'dns' && dnsMatches(name.host, subtree.name);
  return subtree.kind === 'ip' && address !== undefined && ipMatches(address, subtree);
}

/**
 * Whether a certificate for `host` under a CA with `constraints` would pass RFC 5280 name-constraint
 * checking: not inside an excluded subtree, and inside a permitted subtree of its own name form when
 * the CA lists any permitted subtree of that form.
 */
export function isNamePermitted(host: NormalisedHost, constraints: NameConstraints): boolean {
  const address = host.kind === 'ip' ? ipBytes(host.host) : undefined;
  if (constraints.excluded.some((s) => subtreeMatches(host, s, address))) return false;
  const sameForm = constraints.permitted.filter((s) => s.kind === host.kind);
  if (sameForm.length === 0) return true;
  return sameForm.some((s) => subtreeMatches(host, s, address));
}

function formatIp(address: Buffer): string {
  if (address.length === 4) return [...address].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(address.readUInt16BE(i).toString(16));
  return groups.join(':');
}

function prefixLength(mask: Buffer): number {
  let bits = 0;
  for (const byte of mask) bits += byte.toString(2).replaceAll('0', '').length;
  return bits;
}

/** A subtree as a person reads it: `api.openai.com`, `127.0.0.1/32`. */
export function describeSubtree(subtree: NameSubtree): string {
  return subtree.kind === 'dns' ? subtree.name : `${formatIp(subtree.address)}/${prefixLength(subtree.mask)}`;
}
