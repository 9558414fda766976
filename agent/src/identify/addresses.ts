// Canonical forms of IP addresses, so 127.0.0.1, ::ffff:127.0.0.1 and ::FFFF:7f00:1 compare equal.

/** One spelling per address: IPv4 and IPv4-mapped IPv6 share a key. Undefined for text that is no IP. */
export function addressKey(address: string): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v6 = /^\d+\.\d+\.\d+\.\d+$/.test(bare) ? `::ffff:${bare}` : bare;
  if (!v6.includes(':')) return undefined;
  try {
    // The WHATWG URL parser canonicalises IPv6 text (lower case, zero compression, embedded IPv4).
    return new URL(`http://[${v6}]/`).hostname;
  } catch {
    return undefined;
  }
}

/** Formats 16 network-order bytes as IPv6 text (dotted tail for IPv4-mapped addresses). */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const canonical = addressKey(groups.join(':')) ?? groups.join(':');
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(canonical);
  if (mapped) {
    const hi = parseInt(mapped[1] ?? '0', 16);
    const lo = parseInt(mapped[2] ?? '0', 16);
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return canonical.slice(1, -1);
}

export function sameAddress(a: string, b: string): boolean {
  const ka = addressKey(a);
  return ka !== undefined && ka === addressKey(b);
}
